"""Closed-loop task sets beyond single test commands: named places, 3-step plans, collisions.

Run by ``training.evaluate_closed_loop`` (``--place-trials``, ``--plan-trials``, ``--collisions``) on a
``sim.closed_loop.ClosedLoop``: the real controller process drives the simulator. By default the model
is scripted (each command answered with its reference text): these sets measure execution (navigation,
the plan executor, the collision guard), not understanding, which the test-command set measures.

  places     : "Navigate to the <place>" for each place of the places file, N trials each, every trial
               from the start pose (0, 0, 0); success = a "done" status and the final pose within the
               node's xy_tolerance_m and yaw_tolerance_rad of the place.
  plans      : seeded 3-step plans (moves and turns, a move-move pair now and then), from the start pose
               in an empty room (walls 6 m away), so that the guard has nothing to slow: success = every
               step's displacement and rotation, measured between the simulator's exact poses at the
               step boundaries, within the test commands' tolerances.
  collisions : the guard scenarios (config/guard_scenarios.yaml: worlds, start poses, commands) and the
               normal test commands (each from the start pose in the simulator's default world), with the
               node's collision_guard on, then off; contacts counted in the simulator.
"""

from __future__ import annotations

import json
import math
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from ros2_llm_controller.core.actions import Action
from ros2_llm_controller.core.config import ControllerConfig, load_places
from ros2_llm_controller.core.planner import resolve
from ros2_llm_controller.sim.closed_loop import ClosedLoop, Outcome
from ros2_llm_controller.sim.guard_eval import Scenario, load_scenarios
from ros2_llm_controller.sim.physics import World

DISTANCE_REL_TOL = 0.05
ROTATION_TOL_DEG = 3.0
TURN_PATH_M = 0.02  # a turn in place may drift this much
START_POSE = (0.0, 0.0, 0.0)
OPEN_ROOM = World((), 6.0)


def expected(action: Action) -> dict:
    """Signed distance [m] and rotation [deg] an action asks for (after limits)."""
    if not action.moves:
        return {"kind": "none", "distance_m": 0.0, "rotation_deg": 0.0}
    kind = "arc" if action.linear_x and action.angular_z else "move" if action.linear_x else "turn"
    return {"kind": kind, "distance_m": action.linear_x * action.duration_s,
            "rotation_deg": math.degrees(action.angular_z * action.duration_s)}


def judge_motion(exp: dict, forward_m: float, path_m: float, rotation_deg: float) -> tuple[bool, str]:
    """(success, why not) for one motion: straight moves by the displacement along the start heading,
    turns by the rotation (and no drive), arcs by the path length and the rotation."""
    d, rot_err = exp["distance_m"], abs(rotation_deg - exp["rotation_deg"])
    if exp["kind"] == "none":
        ok = path_m < 0.005 and abs(rotation_deg) < 0.5
        return ok, "" if ok else f"moved {path_m:.3f} m / {rotation_deg:.1f} deg on a no-motion step"
    if exp["kind"] == "move":
        ok = abs(forward_m - d) <= DISTANCE_REL_TOL * abs(d) and rot_err <= ROTATION_TOL_DEG
        return ok, "" if ok else f"forward {forward_m:+.3f} m (asked {d:+.3f}), rotation {rotation_deg:+.1f} deg"
    if exp["kind"] == "turn":
        ok = rot_err <= ROTATION_TOL_DEG and path_m <= TURN_PATH_M
        return ok, "" if ok else (f"rotation {rotation_deg:+.1f} deg (asked {exp['rotation_deg']:+.1f}), "
                                  f"path {path_m:.3f} m")
    ok = abs(path_m - abs(d)) <= DISTANCE_REL_TOL * abs(d) and rot_err <= ROTATION_TOL_DEG
    return ok, "" if ok else (f"path {path_m:.3f} m (asked {abs(d):.3f}), rotation {rotation_deg:+.1f} deg "
                              f"(asked {exp['rotation_deg']:+.1f})")


def judge_steps(expected_steps: list[dict], measured: list[dict]) -> tuple[bool, str]:
    """Every step of a plan within tolerance; ``measured`` as ``ClosedLoop.step_motions`` gives them."""
    if len(measured) != len(expected_steps):
        return False, f"{len(measured)} steps measured, {len(expected_steps)} asked"
    for i, (exp, m) in enumerate(zip(expected_steps, measured), start=1):
        ok, why = judge_motion(exp, m["forward_m"], m["path_m"], m["rotation_deg"])
        if not ok:
            return False, f"step {i}: {why}"
    return True, ""


def judge_place(place, end_pose: tuple[float, float, float], xy_tol_m: float, yaw_tol_rad: float,
                done: bool = True) -> tuple[bool, str, float, float]:
    """(success, why not, distance m, heading error rad) of a navigation that ended at ``end_pose``."""
    x, y, yaw = end_pose
    dist = math.hypot(x - place.x, y - place.y)
    yaw_err = abs(math.remainder(yaw - place.yaw_rad, 2 * math.pi))
    if not done:
        return False, f"navigation did not finish (ended {dist:.2f} m from the goal)", dist, yaw_err
    ok = dist <= xy_tol_m and yaw_err <= yaw_tol_rad
    why = "" if ok else f"ended {dist:.3f} m and {math.degrees(yaw_err):.1f} deg from the goal"
    return ok, why, dist, yaw_err


# ---- the task sets ----

_MOVES = ((0.5, "half a meter", "0.5 m"), (1.0, "1 meter", "1 m"), (0.8, "80 centimeters", "80 cm"),
          (0.3, "30 cm", "30 cm"), (1.2, "1.2 meters", "1.2 m"))
_TURNS = ((90, "90 degrees"), (45, "45 degrees"), (135, "135 degrees"), (180, "180 degrees"), (30, "30 degrees"))


def three_step_plans(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` seeded (command, reference answer) pairs of 3-step plans; the first is the demo's."""
    out = [("Go forward 1 meter, turn left 90 degrees, then go forward 1 meter",
            "move forward 1 m; turn left 90 deg; move forward 1 m")]
    rng = random.Random(seed)
    while len(out) < n:
        words, answers = [], []
        kinds = rng.choice((("m", "t", "m"), ("t", "m", "t"), ("m", "m", "t"), ("m", "t", "m")))
        for k in kinds:
            if k == "m":
                _, spoken, text = rng.choice(_MOVES)
                back = rng.random() < 0.25
                words.append(f"{'back up' if back else 'go forward'} {spoken}")
                answers.append(f"move {'back' if back else 'forward'} {text}")
            else:
                deg, spoken = rng.choice(_TURNS)
                side = rng.choice(("left", "right"))
                words.append(f"turn {side} {spoken}")
                answers.append(f"turn {side} {deg} deg")
        out.append((f"{words[0].capitalize()}, {words[1]}, then {words[2]}", "; ".join(answers)))
    return out[:n]


def place_commands(places) -> list[tuple[str, str, object]]:
    """(command, reference answer, place) for every configured place ("start" excluded)."""
    return [(f"Navigate to the {p.name}", f"go to {p.name}", p) for p in places.places if p.name != "start"]


@dataclass
class LoopFactory:
    """Starts the closed loops of the task sets: scripted (answers = references) or the real model."""

    params_file: str | None
    scripted: bool = True
    log_dir: Path | None = None
    log: Callable[[str], None] = print

    def open(self, script: dict[str, str], name: str, overrides: dict | None = None) -> ClosedLoop:
        path = None
        if self.scripted:  # kept beside the logs: what the scripted model answered
            folder = self.log_dir or Path(tempfile.mkdtemp(prefix="closed_loop_"))
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"script_{name}.json"
            path.write_text(json.dumps({**script, "__fallback__": "reply unclear"}, indent=1) + "\n")
        log = self.log_dir / f"controller_{name}.log" if self.log_dir else None
        return ClosedLoop(self.params_file, overrides, scripted=path, controller_log=log, log=self.log)


def run_places(factory: LoopFactory, cfg: ControllerConfig, trials: int,
               progress: Callable[[str], None] = print) -> dict:
    places = load_places(cfg, start=None)
    items = place_commands(places)
    rows = []
    with factory.open({c: a for c, a, _ in items}, "places") as loop:
        for trial in range(trials):
            for command, answer, place in items:
                loop.reset_robot(*START_POSE)
                o = loop.run(command)
                ok, why, dist, yaw_err = judge_place(place, o.end_pose, cfg.xy_tolerance_m, cfg.yaw_tolerance_rad,
                                                     o.done)
                if o.event != "result":
                    ok, why = False, f"no result ({o.event})"
                rows.append({"place": place.name, "trial": trial, "command": command, "reference": answer,
                             "model_output": o.model_output, "success": ok, "why": why,
                             "distance_m": round(dist, 4), "yaw_error_deg": round(math.degrees(yaw_err), 2),
                             "time_s": round(o.motion_s, 2), "collisions": o.collisions, "halt": o.halt,
                             "end_pose": o.end_pose})
                progress(f"[place {len(rows)}/{trials * len(items)}] {'ok  ' if ok else 'FAIL'} {place.name}: "
                         f"{dist:.3f} m, {math.degrees(yaw_err):.1f} deg off {why}")
    by_place = {}
    for r in rows:
        by_place.setdefault(r["place"], []).append(r["success"])
    n_ok = sum(r["success"] for r in rows)
    return {"trials_per_place": trials, "xy_tolerance_m": cfg.xy_tolerance_m,
            "yaw_tolerance_rad": cfg.yaw_tolerance_rad, "n": len(rows), "successes": n_ok,
            "success_rate": n_ok / len(rows) if rows else None,
            "by_place": {k: {"n": len(v), "success": sum(v) / len(v)} for k, v in by_place.items()},
            "collisions": sum(r["collisions"] for r in rows), "rows": rows}


def run_plans(factory: LoopFactory, cfg: ControllerConfig, trials: int, seed: int = 0,
              progress: Callable[[str], None] = print) -> dict:
    plans = three_step_plans(trials, seed)
    rows = []
    with factory.open(dict(plans), "plans") as loop:
        for command, answer in plans:
            ref = resolve(answer, cfg)
            exp = [expected(a) for a in ref.steps]
            loop.reset_robot(*START_POSE, world=OPEN_ROOM)
            o = loop.run(command)
            ok, why = judge_steps(exp, o.steps) if o.event == "result" else (False, f"no result ({o.event})")
            if ok and not o.done:
                ok, why = False, f"the plan did not finish: {o.halt}"
            rows.append({"command": command, "reference": answer, "model_output": o.model_output, "success": ok,
                         "why": why, "expected": exp, "steps": o.steps, "collisions": o.collisions})
            progress(f"[plan {len(rows)}/{len(plans)}] {'ok  ' if ok else 'FAIL'} {answer!r} {why}")
    n_ok = sum(r["success"] for r in rows)
    return {"n": len(rows), "successes": n_ok, "success_rate": n_ok / len(rows) if rows else None,
            "world": "empty room, walls at +-6 m", "collisions": sum(r["collisions"] for r in rows), "rows": rows}


def _collision_pass(factory: LoopFactory, guard: bool, scenarios: list[Scenario],
                    commands: list[tuple[str, str]], progress: Callable[[str], None]) -> dict:
    script = {f"scenario {sc.name}": sc.command for sc in scenarios}
    script.update(dict(commands))
    rows = []
    with factory.open(script, f"collisions_guard_{'on' if guard else 'off'}", {"collision_guard": guard}) as loop:
        default_world = loop.sim.world
        for sc in scenarios:
            loop.reset_robot(*sc.start, world=sc.world)
            o = loop.run(f"scenario {sc.name}")
            rows.append(_collision_row("scenario", sc.name, sc.command, o))
        for command, answer in commands:
            loop.reset_robot(*START_POSE, world=default_world)
            o = loop.run(command)
            rows.append(_collision_row("test_command", command, answer, o))
    label = "on " if guard else "off"
    for kind in ("scenario", "test_command"):
        sel = [r for r in rows if r["set"] == kind]
        progress(f"guard {label}: {kind}s {len(sel)}, collisions {sum(r['collisions'] for r in sel)} "
                 f"({sum(r['collisions'] > 0 for r in sel)} runs hit something)")
    return {"guard": guard, "rows": rows,
            "scenario_collisions": sum(r["collisions"] for r in rows if r["set"] == "scenario"),
            "test_command_collisions": sum(r["collisions"] for r in rows if r["set"] == "test_command")}


def _collision_row(kind: str, name: str, answer: str, o: Outcome) -> dict:
    g = (o.halt or {}).get("guard") or {}
    return {"set": kind, "name": name, "answer": answer, "collisions": o.collisions,
            "path_m": round(o.path_m, 3), "guard_stopped": g.get("reason") == "stopped",
            "obstacle_distance_m": g.get("obstacle_distance_m"), "obstacle_bearing_deg": g.get("obstacle_bearing_deg"),
            "event": o.event}


def run_collisions(factory: LoopFactory, commands: Iterable[tuple[str, str]], scenarios_path: Path | None = None,
                   progress: Callable[[str], None] = print) -> dict:
    scenarios = load_scenarios(scenarios_path)
    commands = list(commands)
    on = _collision_pass(factory, True, scenarios, commands, progress)
    off = _collision_pass(factory, False, scenarios, commands, progress)
    return {"scenarios": len(scenarios), "test_commands": len(commands), "guard_on": on, "guard_off": off}
