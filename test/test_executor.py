"""The plan executor (core.executor): timing, events, cancel, guard hook, odom and nav2 goto steps."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from ros2_llm_controller.core.actions import Action
from ros2_llm_controller.core.executor import Delegate, EventKind, PlanExecutor, UnknownPlace, resolve_plan
from ros2_llm_controller.core.navigation import NavParams, wrap_angle
from ros2_llm_controller.core.parser import parse_answer
from ros2_llm_controller.core.places import Place, Places

try:  # the restructure moves the simulator out of core/
    from ros2_llm_controller.sim.physics import DiffDriveSim
except ImportError:  # pragma: no cover - before the restructure
    from ros2_llm_controller.core.sim import DiffDriveSim

PLACES = Places.from_yaml(Path(__file__).resolve().parents[1] / "config" / "places.yaml")
FWD = Action("move", linear_x=0.5, duration_s=2.0, distance_m=1.0)
LEFT = Action("move", angular_z=0.5, duration_s=math.pi, angle_rad=math.pi / 2)
WAIT = Action("wait", duration_s=1.0)


def kinds(events):
    return [(e.kind, e.step) for e in events]


def drive(ex: PlanExecutor, t0: float = 0.0, sim: DiffDriveSim | None = None, max_s: float = 200.0,
          scan=None, on_tick=None):
    """Tick as the node would (after ``next_tick_s`` each time); returns [(t, output)]."""
    t, out, log = t0, None, []
    while True:
        pose = None
        if sim is not None:
            s = sim.step(t)
            pose = (s.x, s.y, s.yaw)
        out = ex.start(t, pose, scan) if not log else ex.tick(t, pose, scan)
        log.append((t, out))
        if sim is not None and out.twist is not None:
            sim.command(*out.twist, t)
        if on_tick is not None:
            on_tick(t, out)
        if out.done:
            return log
        assert 0 < out.next_tick_s <= ex.period_s + 1e-12
        t = round(t + out.next_tick_s, 9)
        assert t - t0 < max_s, "plan never finished"


def test_three_step_plan_publishes_in_order_on_time_and_ends_in_zero():
    ex = PlanExecutor((FWD, LEFT, WAIT), rate_hz=20.0)
    log = drive(ex)
    twists = [o.twist for _, o in log]
    assert twists[0] == (0.5, 0.0) and twists[-1] == (0.0, 0.0)
    # Distinct velocities in order: forward, turn, then zeros (wait and the end).
    order = [tw for i, tw in enumerate(twists) if i == 0 or tw != twists[i - 1]]
    assert order == [(0.5, 0.0), (0.0, 0.5), (0.0, 0.0)]
    starts = {e.step: t for t, o in log for e in o.events if e.kind is EventKind.STEP_STARTED}
    assert starts == {0: 0.0, 1: pytest.approx(2.0), 2: pytest.approx(2.0 + math.pi)}
    assert log[-1][0] == pytest.approx(3.0 + math.pi)  # ends exactly at the plan's duration
    events = [e for _, o in log for e in o.events]
    assert kinds(events) == [(EventKind.STEP_STARTED, 0), (EventKind.STEP_DONE, 0), (EventKind.STEP_STARTED, 1),
                             (EventKind.STEP_DONE, 1), (EventKind.STEP_STARTED, 2), (EventKind.STEP_DONE, 2),
                             (EventKind.PLAN_DONE, None)]
    assert all(o.total == 3 for _, o in log) and log[-1][1].step is None and ex.done
    assert ex.remaining_steps() == ()


def test_plan_on_the_simulator_ends_where_it_should():
    steps = parse_answer("move forward 1 m; turn left 90 deg; move forward 50 cm").steps
    sim = DiffDriveSim()
    sim.reset(0.0)
    drive(PlanExecutor(steps, rate_hz=20.0), sim=sim)
    s = sim.step(20.0)
    assert (s.x, s.y, s.yaw) == pytest.approx((1.0, 0.5, math.pi / 2), abs=1e-9)


@pytest.mark.parametrize("rate_hz", [1.0, 5.0, 20.0])
def test_sub_period_step_ends_on_time(rate_hz):
    tiny = Action("move", linear_x=0.5, duration_s=0.002, distance_m=0.001)
    ex = PlanExecutor((tiny,), rate_hz=rate_hz)
    out = ex.start(10.0)
    assert out.twist == (0.5, 0.0) and out.next_tick_s == pytest.approx(0.002)
    out = ex.tick(10.002)
    assert out.twist == (0.0, 0.0) and out.done
    sim = DiffDriveSim()
    sim.reset(0.0)
    drive(PlanExecutor((tiny,), rate_hz=rate_hz), sim=sim)
    assert sim.step(5.0).x == pytest.approx(0.001)


def test_late_ticks_measure_each_step_from_its_start():
    ex = PlanExecutor((FWD, LEFT), rate_hz=20.0)
    ex.start(0.0)
    assert ex.tick(1.0).twist == (0.5, 0.0)
    out = ex.tick(2.07)  # late: the turn starts now and lasts its full duration from here
    assert out.twist == (0.0, 0.5) and out.step == 1
    assert ex.tick(2.07 + math.pi - 0.01).twist == (0.0, 0.5)
    assert ex.tick(2.07 + math.pi).done


def test_zero_length_steps_and_empty_plan():
    ex = PlanExecutor((Action("move", linear_x=0.5, duration_s=0.0), FWD))
    out = ex.start(0.0)
    assert out.twist == (0.5, 0.0) and out.step == 1
    assert kinds(out.events) == [(EventKind.STEP_STARTED, 0), (EventKind.STEP_DONE, 0), (EventKind.STEP_STARTED, 1)]
    out = PlanExecutor(()).start(0.0)
    assert out.done and out.twist == (0.0, 0.0) and kinds(out.events) == [(EventKind.PLAN_DONE, None)]


def test_cancel_ends_at_once_and_remaining_steps_continue_the_plan():
    ex = PlanExecutor((FWD, LEFT, WAIT), rate_hz=20.0)
    ex.start(0.0)
    ex.tick(0.05)
    ex.tick(0.5)
    out = ex.cancel(0.5)
    assert out.twist == (0.0, 0.0) and out.done and out.next_tick_s is None and not out.cancel_delegate
    (e,) = out.events
    assert e.kind is EventKind.CANCELLED and e.step == 0
    assert e.progress.distance_m == pytest.approx(0.25) and e.progress.fraction == pytest.approx(0.25)
    rest = ex.remaining_steps()
    assert rest[1:] == (LEFT, WAIT)
    assert rest[0].duration_s == pytest.approx(1.5) and rest[0].distance_m == pytest.approx(0.75)
    assert rest[0].linear_x == 0.5
    assert ex.tick(0.6).twist == (0.0, 0.0) and ex.tick(0.6).events == ()  # stays over
    # Cancelled on a step boundary: nothing of that step is left.
    ex = PlanExecutor((FWD, LEFT))
    ex.start(0.0)
    ex.tick(2.0)
    ex.cancel(2.0)
    assert ex.remaining_steps() == (LEFT,)
    assert PlanExecutor((FWD,)).remaining_steps() == (FWD,)


def test_guard_scales_then_stops_with_progress():
    calls = []

    def guard(lin, ang, remaining_s):
        calls.append((lin, ang, remaining_s))
        if len(calls) <= 2:
            return lin, ang, False, None
        if len(calls) <= 4:
            return lin / 2, ang / 2, False, {"reason": "slowed"}
        return 0.0, 0.0, True, {"obstacle_distance_m": 0.6, "obstacle_bearing_deg": 0.0}

    ex = PlanExecutor((FWD, LEFT), rate_hz=10.0, guard=guard)
    outs = [ex.start(0.0)] + [ex.tick(0.1 * k) for k in range(1, 5)]
    assert [o.twist for o in outs] == [(0.5, 0.0), (0.5, 0.0), (0.25, 0.0), (0.25, 0.0), (0.0, 0.0)]
    assert outs[2].guard_info == {"reason": "slowed"} and outs[1].guard_info is None
    assert calls[0][2] == pytest.approx(2.0) and calls[1][2] == pytest.approx(1.9)
    last = outs[-1]
    assert last.done and last.twist == (0.0, 0.0)
    (e,) = last.events
    assert e.kind is EventKind.GUARD_STOP and e.step == 0 and e.info["obstacle_distance_m"] == 0.6
    assert e.progress.distance_m == pytest.approx(0.05 + 0.05 + 0.025 + 0.025)
    assert e.progress.fraction == pytest.approx(0.3 / 2.0)
    assert ex.remaining_steps()[0].distance_m == pytest.approx(1.0 - 0.15)


def test_guard_sees_no_zero_twist():
    seen = []
    ex = PlanExecutor((WAIT,), guard=lambda *a: seen.append(a) or (0.0, 0.0, True, None))
    drive(ex)
    assert seen == []


def test_goto_on_odom_reaches_the_place_with_feedback():
    steps = resolve_plan(parse_answer("move forward 1 m; go to the kitchen").steps, PLACES)
    assert steps[1] == PLACES.resolve("kitchen")
    sim = DiffDriveSim()
    sim.reset(0.0)
    log = drive(PlanExecutor(steps, rate_hz=20.0), sim=sim)
    events = [e for _, o in log for e in o.events]
    assert events[-1].kind is EventKind.PLAN_DONE and log[-1][1].twist == (0.0, 0.0)
    feedback = [e for e in events if e.kind is EventKind.NAV_FEEDBACK]
    assert len(feedback) > 10 and all(e.step == 1 for e in feedback)
    assert feedback[0].distance_remaining_m > feedback[-1].distance_remaining_m
    s = sim.state
    assert math.hypot(s.x - 4.0, s.y - 3.0) <= 0.1 and abs(wrap_angle(s.yaw)) <= 0.1


def test_goto_on_odom_fails_on_an_obstacle_and_ends_the_plan():
    place = Place("wall", 3.0, 0.0)
    ex = PlanExecutor((place, FWD), nav_params=NavParams(stop_distance_m=0.5))
    scan = np.array([[0.4, 0.0]])
    out = ex.start(0.0, (0.0, 0.0, 0.0), scan)
    assert out.done and out.twist == (0.0, 0.0)
    assert kinds(out.events)[-1] == (EventKind.NAV_FAILED, 0)
    assert out.events[-1].reason == "obstacle on the path at 0.40 m"
    assert ex.remaining_steps() == (Action("goto", place="wall"), FWD)


def test_goto_is_delegated_to_nav2():
    kitchen = PLACES.resolve("kitchen")
    ex = PlanExecutor((FWD, kitchen, LEFT), navigation="nav2")
    ex.start(0.0)
    out = ex.tick(2.0)
    assert out.delegate == Delegate(kitchen, 1) and out.twist == (0.0, 0.0) and ex.delegated
    out = ex.tick(2.05)
    assert out.twist is None and out.delegate is None  # nav2 drives: publish nothing
    ex.nav_feedback(3.2)
    out = ex.tick(2.1)
    assert kinds(out.events) == [(EventKind.NAV_FEEDBACK, 1)] and out.events[0].distance_remaining_m == 3.2
    ex.nav_result(True)
    out = ex.tick(2.15)
    assert out.twist == (0.0, 0.5) and out.step == 2 and not ex.delegated
    assert kinds(out.events) == [(EventKind.STEP_DONE, 1), (EventKind.STEP_STARTED, 2)]

    ex = PlanExecutor((kitchen,), navigation="nav2")
    ex.start(0.0)
    out = ex.cancel(0.5)
    assert out.cancel_delegate and out.twist == (0.0, 0.0)

    ex = PlanExecutor((kitchen, FWD), navigation="nav2")
    ex.start(0.0)
    ex.nav_result(False, "goal aborted by the planner")
    out = ex.tick(0.05)
    assert out.done and out.events[-1].reason == "goal aborted by the planner"
    ex.nav_feedback(1.0)  # after the end: ignored
    assert ex.tick(0.1).events == ()


def test_resolve_plan_and_validation():
    with pytest.raises(UnknownPlace) as err:
        resolve_plan((FWD, Action("goto", place="garage")), PLACES)
    assert err.value.words == "garage" and "Known places: charging station" in err.value.reply
    for bad in (Action("stop"), Action("reply", reply="hi"), "move"):
        with pytest.raises(ValueError):
            PlanExecutor((FWD, bad))
    with pytest.raises(ValueError):
        PlanExecutor((Action("move", linear_x=math.nan, duration_s=1.0),))
    with pytest.raises(ValueError):
        PlanExecutor((FWD,), rate_hz=0)
    with pytest.raises(ValueError):
        PlanExecutor((FWD,), navigation="gps")
    ex = PlanExecutor((FWD,))
    ex.start(0.0)
    with pytest.raises(RuntimeError):
        ex.start(0.1)


def test_event_dicts_are_json_ready():
    import json

    ex = PlanExecutor((FWD,), guard=lambda lin, ang, r: (0.0, 0.0, True, {"obstacle_distance_m": 0.5}))
    out = ex.start(0.0)
    d = [e.to_dict() for e in out.events]
    assert json.loads(json.dumps(d))[-1] == {"kind": "guard_stop", "step": 0, "total": 1,
                                              "info": {"obstacle_distance_m": 0.5},
                                              "progress": {"elapsed_s": 0.0, "fraction": 0.0, "distance_m": 0.0,
                                                           "angle_rad": 0.0, "odom_distance_m": None}}


def test_recheck_limits_cuts_durations_and_refuses_speeds():
    from ros2_llm_controller.core.limits import SafetyLimits

    ex = PlanExecutor((FWD, LEFT), rate_hz=20.0)
    ex.start(0.0)
    assert ex.recheck_limits(SafetyLimits(1.0, 1.5, 1.5), 0.5) is None
    assert ex.steps[1].duration_s == 1.5 and ex.steps[1].angle_rad == pytest.approx(0.75)
    assert ex.tick(1.49).twist == (0.5, 0.0)
    out = ex.tick(1.5)  # the current step ends 1.5 s after its own start
    assert out.twist == (0.0, 0.5) and out.step == 1
    assert ex.step_remaining_s(2.0) == pytest.approx(1.0)
    assert ex.recheck_limits(SafetyLimits(1.0, 1.5, 0.2), 2.0) == ("it has run 0.50 s, over the new "
                                                                   "max_duration_s=0.2 s")
    assert ex.recheck_limits(SafetyLimits(1.0, 0.4, 30.0), 2.0) == "step 2 of 2 exceeds the new safety limits"
    ex = PlanExecutor((PLACES.resolve("kitchen"),))
    ex.start(0.0, (0.0, 0.0, 0.0))
    assert ex.recheck_limits(SafetyLimits(0.2, 0.3, 30.0), 0.1) is None
    assert ex._nav.params.max_linear_mps == 0.2 and ex._nav.params.max_angular_rps == 0.3


@pytest.mark.parametrize("words, name", [("study room", "office"), ("kitchen area", "kitchen"),
                                         ("charge", "charging station"), ("chargin station", "charging station")])
def test_place_words_people_use_resolve(words, name):
    assert PLACES.resolve(words).name == name


@pytest.mark.parametrize("words", ["dining room", "garage", "room", "bathroom area"])
def test_unknown_place_words_stay_unknown(words):
    assert PLACES.resolve(words) is None
