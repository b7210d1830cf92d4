"""Closed-loop task sets (places, 3-step plans, collisions), the simulator tap and the demo's checks.

The judging and bookkeeping are tested without ROS; one scripted run through the real node and the
simulator covers all three sets end to end on a small places file and two guard scenarios.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from ros2_llm_controller.core.actions import Action
from ros2_llm_controller.core.config import ControllerConfig
from ros2_llm_controller.core.places import Place
from ros2_llm_controller.core.planner import resolve
from ros2_llm_controller.sim.closed_loop import ClosedLoop, Outcome, SimCommand, SimTap
from ros2_llm_controller.sim.physics import Circle, DiffDriveSim, World
from training import closed_loop_tasks as tasks

ROOT = Path(__file__).resolve().parents[1]


# ---- judging ----

def test_judge_motion_by_kind():
    move = {"kind": "move", "distance_m": 1.0, "rotation_deg": 0.0}
    assert tasks.judge_motion(move, 0.96, 0.96, 1.0)[0]
    ok, why = tasks.judge_motion(move, 0.94, 0.94, 0.0)
    assert not ok and "forward +0.940" in why
    assert not tasks.judge_motion(move, 1.0, 1.0, 3.5)[0]  # drifted heading
    turn = {"kind": "turn", "distance_m": 0.0, "rotation_deg": -90.0}
    assert tasks.judge_motion(turn, 0.0, 0.01, -88.0)[0]
    assert not tasks.judge_motion(turn, 0.0, 0.03, -90.0)[0]  # drove while turning
    arc = {"kind": "arc", "distance_m": 1.0, "rotation_deg": 90.0}
    assert tasks.judge_motion(arc, 0.64, 1.02, 91.0)[0]
    assert not tasks.judge_motion(arc, 0.64, 1.1, 90.0)[0]
    assert tasks.judge_motion({"kind": "none", "distance_m": 0.0, "rotation_deg": 0.0}, 0.0, 0.001, 0.1)[0]


def test_judge_steps_needs_every_step_and_the_right_count():
    cfg = ControllerConfig()
    exp = [tasks.expected(a) for a in resolve("move forward 1 m; turn left 90 deg; move back 50 cm", cfg).steps]
    good = [{"forward_m": 1.0, "path_m": 1.0, "rotation_deg": 0.0},
            {"forward_m": 0.0, "path_m": 0.0, "rotation_deg": 90.5},
            {"forward_m": -0.5, "path_m": 0.5, "rotation_deg": 0.0}]
    assert tasks.judge_steps(exp, good) == (True, "")
    bad = [dict(good[0]), dict(good[1], rotation_deg=80.0), dict(good[2])]
    ok, why = tasks.judge_steps(exp, bad)
    assert not ok and why.startswith("step 2:")
    ok, why = tasks.judge_steps(exp, good[:2])
    assert not ok and "2 steps measured, 3 asked" in why


def test_judge_place_distance_heading_and_unfinished():
    place = Place("dock", -4.0, 2.5, math.pi)
    ok, why, dist, yaw_err = tasks.judge_place(place, (-3.95, 2.48, -3.1), 0.1, 0.1)
    assert ok and dist == pytest.approx(math.hypot(0.05, 0.02)) and yaw_err < 0.05  # heading wraps at +-pi
    assert not tasks.judge_place(place, (-3.85, 2.5, math.pi), 0.1, 0.1)[0]
    assert not tasks.judge_place(place, (-4.0, 2.5, 2.9), 0.1, 0.1)[0]
    ok, why, *_ = tasks.judge_place(place, (-4.0, 2.5, math.pi), 0.1, 0.1, done=False)
    assert not ok and "did not finish" in why


def test_three_step_plans_are_seeded_and_resolve_to_three_steps():
    cfg = ControllerConfig()
    plans = tasks.three_step_plans(25, seed=1)
    assert plans == tasks.three_step_plans(25, seed=1) and plans != tasks.three_step_plans(25, seed=2)
    assert plans[0] == ("Go forward 1 meter, turn left 90 degrees, then go forward 1 meter",
                        "move forward 1 m; turn left 90 deg; move forward 1 m")
    assert len({p[1] for p in plans}) > 20
    for command, answer in plans:
        result = resolve(answer, cfg)
        assert result.kind.value == "action" and len(result.steps) == 3, (command, answer)
        assert all(s.moves for s in result.steps)
        # Within 3 m of the start: they fit the empty room whatever the turns.
        assert sum(abs(s.linear_x) * s.duration_s for s in result.steps) <= 3.0


def test_place_commands_cover_the_places_file():
    cfg = ControllerConfig()
    from ros2_llm_controller.core.config import load_places

    places = load_places(cfg, start=None)
    items = tasks.place_commands(places)
    assert [p.name for _, _, p in items] == places.names and len(items) >= 6
    for command, answer, place in items:
        assert resolve(answer, cfg, places=places).action.place == place.name


# ---- the simulator tap and step boundaries ----

def test_sim_tap_counts_contacts_between_steps_and_records_commands():
    sim = DiffDriveSim(cmd_timeout_s=10.0)
    sim.reset(0.0)
    world = World((Circle(0.5, 0.24, 0.05),), 6.0)  # grazed (1 cm) only between coarse steps
    recorded = []
    tap = SimTap(sim, lambda: world, 0.2, recorded.append)
    sim.command(1.0, 0.0, 0.0)
    sim.step(1.0)  # one coarse step of 1 m: the tap checks every 4 mm
    assert tap.counter.count == 1 and sim.state.x == pytest.approx(1.0)
    sim.command(0.0, 0.5, 1.0)
    sim.step(2.0)
    assert [(c.linear_x, c.angular_z) for c in recorded] == [(1.0, 0.0), (0.0, 0.5)]
    assert recorded[1].x == pytest.approx(1.0) and recorded[1].distance_m == pytest.approx(1.0)
    assert sim.state.yaw_unwrapped == pytest.approx(0.5)
    angle_min, inc, ranges = sim.scan(world, 8)
    assert tap.scans == 1 and len(ranges) == 8


def _cmd(t, x, y, yaw, d, v, w):
    return SimCommand(t, x, y, yaw, d, v, w)


def test_step_motions_split_a_plan_at_the_step_statuses():
    loop = ClosedLoop()  # not started: only its records are used
    cmds = [_cmd(0.00, 0, 0, 0, 0, 0.5, 0.0), _cmd(0.05, 0.025, 0, 0, 0.025, 0.5, 0.0),
            _cmd(2.00, 1.0, 0, 0, 1.0, 0.0, 0.5), _cmd(2.05, 1.0, 0, 0.025, 1.0, 0.0, 0.5),
            _cmd(5.14, 1.0, 0, math.pi / 2, 1.0, 0.5, 0.0), _cmd(7.14, 1.0, 1.0, math.pi / 2, 2.0, 0.0, 0.0)]
    for c in cmds:
        loop._on_sim_command(c)
    for t, index in ((0.001, 0), (2.002, 1), (5.143, 2)):
        loop.rec.statuses.append((t, {"command": "plan", "event": "step", "step": {"index": index, "total": 3}}))
        loop._status_t.append(t)
    steps = loop.step_motions("plan", -0.1, 7.2)
    assert len(steps) == 3
    assert steps[0]["forward_m"] == pytest.approx(1.0) and steps[0]["rotation_deg"] == pytest.approx(0.0)
    assert steps[1]["rotation_deg"] == pytest.approx(90.0) and steps[1]["path_m"] == pytest.approx(0.0)
    assert steps[2]["forward_m"] == pytest.approx(1.0) and steps[2]["lateral_m"] == pytest.approx(0.0, abs=1e-9)
    assert loop.step_motions("other", -0.1, 7.2)[0]["path_m"] == pytest.approx(2.0)  # no statuses: one step


def test_step_motions_split_two_equal_steps_whichever_message_came_first():
    """Move 0.3 m then 1 m at the same speed: no change of twist; the step status may come before its twist."""
    loop = ClosedLoop()
    for k in range(0, 13):  # ticks at 20 Hz, 0.5 m/s: step 2 starts at 0.6 s
        t = 0.05 * k
        loop._on_sim_command(_cmd(t + 0.002, 0.5 * t, 0, 0, 0.5 * t, 0.5, 0.0))
    loop._on_sim_command(_cmd(2.602, 1.3, 0, 0, 1.3, 0.0, 0.0))
    for t, index in ((0.001, 0), (0.601, 1)):  # status 1 handled 1 ms before the tick's twist
        loop.rec.statuses.append((t, {"command": "p", "event": "step", "step": {"index": index, "total": 2}}))
        loop._status_t.append(t)
    steps = loop.step_motions("p", -0.1, 2.7)
    assert [round(s["forward_m"], 3) for s in steps] == [0.3, 1.0]


# ---- the demo's checks ----

def test_demo_as_asked_compares_with_the_reference():
    from ros2_llm_controller.core.config import load_places
    from ros2_llm_controller.sim import demo

    cfg = ControllerConfig()
    places = load_places(cfg)
    plan = resolve("move forward 1 m; turn left 90 deg; move forward 1 m", cfg)
    o = Outcome("x", model_output="move forward 1 m; turn left 90 deg; move forward 1 m", event="result",
                action=plan.action.to_dict(), actions=[a.to_dict() for a in plan.steps])
    assert demo.as_asked(o, demo.DEMO[4][1], cfg, places)
    arc = resolve("arc forward 1 m left 90 deg", cfg)
    o = Outcome("x", model_output="arc forward 1 m left 90 deg", event="result", action=arc.action.to_dict(),
                actions=[arc.action.to_dict()])
    assert not demo.as_asked(o, demo.DEMO[4][1], cfg, places)
    goto = Action("goto", place="charging station")
    o = Outcome("x", model_output="go to charger", event="result", action=goto.to_dict(), actions=[goto.to_dict()])
    assert demo.as_asked(o, "go to charging station", cfg, places)
    assert demo.as_asked(Outcome("x", model_output="again", event="result", refers_to=5), "again", cfg, places)
    assert not demo.as_asked(Outcome("x", model_output="reply negated", event="result",
                                     action={"type": "reply"}), "again", cfg, places)
    assert not demo.as_asked(Outcome("x", event="timeout"), "query battery", cfg, places)


# ---- through the real node and the simulator (scripted answers) ----

@pytest.mark.ros
@pytest.mark.slow
@pytest.mark.timeout(400)
def test_places_plans_and_collisions_in_closed_loop(tmp_path):
    """Two near places, two plans, two guard scenarios (one collides without the guard) and one test command."""
    from training import evaluate_closed_loop as ecl

    (tmp_path / "places.yaml").write_text(yaml.safe_dump({"places": [
        {"name": "near desk", "aliases": [], "frame_id": "odom", "x": 1.0, "y": 0.5, "yaw_rad": 0.5},
        {"name": "back shelf", "aliases": [], "frame_id": "odom", "x": -0.8, "y": -0.4, "yaw_rad": -2.0}]}))
    params = yaml.safe_load((ROOT / "config/controller.yaml").read_text())
    params["/**/llm_controller"]["ros__parameters"]["places_file"] = str(tmp_path / "places.yaml")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    doc = yaml.safe_load((ROOT / "config/guard_scenarios.yaml").read_text())
    doc["scenarios"] = [s for s in doc["scenarios"] if s["name"] in ("head_on_close_start", "behind_while_forward")]
    (tmp_path / "scenarios.yaml").write_text(yaml.safe_dump(doc))
    out = tmp_path / "out"
    rc = ecl.main(["--limit", "0", "--stops", "0", "--place-trials", "1", "--plan-trials", "2", "--collisions",
                   "--collision-commands", "1", "--max-duration-s", "2.5", "--guard-scenarios",
                   str(tmp_path / "scenarios.yaml"), "--params-file", str(tmp_path / "params.yaml"),
                   "--data", str(ROOT / "data/robot"), "--out", str(out)])
    assert rc == 0
    report = json.loads((out / "closed_loop_test.json").read_text())
    places = report["places"]
    assert places["n"] == 2 and places["success_rate"] == 1.0, places["rows"]
    assert all(r["distance_m"] <= 0.1 for r in places["rows"])
    plans = report["plans"]
    assert plans["n"] == 2 and plans["success_rate"] == 1.0, plans["rows"]
    assert all(len(r["steps"]) == 3 for r in plans["rows"])
    col = report["collisions_eval"]
    assert col["guard_on"]["scenario_collisions"] == 0 and col["guard_off"]["scenario_collisions"] >= 1
    on = {r["name"]: r for r in col["guard_on"]["rows"]}
    assert on["head_on_close_start"]["guard_stopped"] and on["head_on_close_start"]["obstacle_distance_m"] < 0.5
    assert not on["behind_while_forward"]["guard_stopped"] and on["behind_while_forward"]["path_m"] > 0.95
    assert col["test_commands"] == 1 and col["guard_on"]["test_command_collisions"] == 0
    md = (out / "closed_loop_test.md").read_text()
    assert "Navigation to named places" in md and "3-step plans" in md and "guard on: collisions" in md


@pytest.mark.ros
@pytest.mark.slow
@pytest.mark.timeout(400)
def test_demo_runs_with_commands_it_does_not_understand(tmp_path, capsys):
    """Scripted answers, three of them wrong: the demo goes on, says so, puts the robot back at the start
    for the guarded stop, and shows it."""
    from ros2_llm_controller.sim import demo

    script = dict(demo.DEMO + (demo.GUARD_DEMO, demo.STOP_DEMO))
    script["Where are you?"] = "query status"
    script["Do that again"] = "Executing linear motion: banana"  # unparseable
    script["Return to where you started"] = "stop"
    (tmp_path / "script.json").write_text(json.dumps(script))
    out = tmp_path / "demo"
    rc = demo.main(["--scripted", str(tmp_path / "script.json"), "--out", str(out),
                    "--params-file", str(ROOT / "config/controller.yaml")])
    text = capsys.readouterr().out
    assert rc == 0
    report = json.loads((out / "demo.json").read_text())
    assert report["not_as_asked"] == ["Where are you?", "Do that again", "Return to where you started"]
    assert "not what the command asks (expected 'query position')" in text
    assert len(report["notes"]) == 1 and "puts it back" in report["notes"][0]
    guard = report["guarded_stop"]
    assert guard["stopped_by_guard"] and guard["collisions"] == 0
    assert 0.25 <= guard["obstacle_distance_m"] <= 0.5 and 2.0 < guard["got_m"] < 2.7
    assert report["collisions"] == 0 and report["stop_during_motion"]["stayed_stopped"]
    plan = next(c for c in report["commands"] if c["command"].startswith("Go forward 1 meter"))
    assert plan["as_asked"] and len(plan["steps"]) == 3
    assert (out / "trajectory.png").stat().st_size > 10_000
