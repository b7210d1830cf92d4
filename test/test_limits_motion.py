import math

import pytest

from ros2_llm_controller.core.actions import Action
from ros2_llm_controller.core.limits import SafetyLimits, apply_limits
from ros2_llm_controller.core.motion import MotionPlan
from ros2_llm_controller.core.stop_words import is_stop_command

LIM = SafetyLimits(max_linear_mps=1.0, max_angular_rps=1.5, max_duration_s=30.0)


def test_within_limits_is_untouched():
    a = Action("move", linear_x=0.5, duration_s=4.0, distance_m=2.0)
    r = apply_limits(a, LIM)
    assert r.action == a and not r.limited


def test_clamp_keeps_distance_by_stretching_time():
    a = Action("move", linear_x=4.0, duration_s=1.0, distance_m=4.0)
    r = apply_limits(a, LIM)
    assert r.limited and r.action.linear_x == pytest.approx(1.0)
    assert r.action.linear_x * r.action.duration_s == pytest.approx(4.0)


def test_clamp_scales_an_arc_uniformly():
    a = Action("move", linear_x=2.0, angular_z=3.0, duration_s=1.0)
    r = apply_limits(a, LIM).action
    assert r.linear_x == pytest.approx(1.0) and r.angular_z == pytest.approx(1.5)
    assert r.linear_x / r.angular_z == pytest.approx(2.0 / 3.0)


def test_clamp_cuts_duration_at_the_limit():
    a = Action("move", linear_x=-100.0, duration_s=100.0)
    r = apply_limits(a, LIM)
    assert r.limited and r.action.linear_x == pytest.approx(-1.0) and r.action.duration_s == 30.0


def test_reject_policy_refuses():
    r = apply_limits(Action("move", angular_z=2.0, duration_s=1.0), SafetyLimits(policy="reject"))
    assert r.action.type == "reject" and r.limited and "angular" in r.reason


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_is_always_rejected(bad):
    for policy in ("clamp", "reject"):
        r = apply_limits(Action("move", linear_x=bad, duration_s=1.0), SafetyLimits(policy=policy))
        assert r.action.type == "reject" and r.limited
        r = apply_limits(Action("move", linear_x=0.1, duration_s=bad), SafetyLimits(policy=policy))
        assert r.action.type == "reject"


def test_replies_and_stops_pass_through():
    for a in (Action("stop"), Action("reply", reply="hi"), Action("reject", reply="no")):
        assert apply_limits(a, LIM).action == a


@pytest.mark.parametrize("kwargs", [dict(max_linear_mps=0), dict(max_angular_rps=-1), dict(max_duration_s=math.inf),
                                    dict(policy="ignore")])
def test_bad_limits_raise(kwargs):
    with pytest.raises(ValueError):
        SafetyLimits(**kwargs)


def test_motion_plan_streams_then_ends_in_zero():
    plan = MotionPlan(0.5, 0.0, 1.0, rate_hz=20.0)
    samples = plan.samples()
    assert len(samples) == 21
    assert all(s[1] == 0.5 for s in samples[:-1]) and samples[-1][1:] == (0.0, 0.0)
    assert plan.velocity_at(0.99) == (0.5, 0.0) and plan.velocity_at(1.0) == (0.0, 0.0)
    assert plan.velocity_at(-0.1) == (0.0, 0.0) and plan.done(1.0) and not plan.done(0.5)


@pytest.mark.parametrize("rate_hz", [1.0, 5.0, 20.0])
@pytest.mark.parametrize("duration_s", [0.002, 0.01, 0.04])
def test_sub_period_motion_ends_at_its_duration_not_a_period_later(rate_hz, duration_s):
    """"move forward 1 mm" (2 ms at 0.5 m/s) ran a whole first period: 26 mm at 20 Hz, about 100 mm at 5 Hz."""
    plan = MotionPlan(0.5, 0.0, duration_s, rate_hz=rate_hz)
    assert plan.next_period_s(0.0) == pytest.approx(duration_s)  # the first period is capped too
    assert plan.samples() == [(0.0, 0.5, 0.0), (duration_s, 0.0, 0.0)]
    travelled = sum(lin * (t1 - t0) for (t0, lin, _), (t1, _, _) in zip(plan.samples(), plan.samples()[1:]))
    assert travelled == pytest.approx(0.5 * duration_s)


def test_next_period_is_full_until_the_last_one():
    plan = MotionPlan(0.5, 0.0, 0.12, rate_hz=20.0)
    assert [round(plan.next_period_s(t), 6) for t in (0.0, 0.05, 0.1, 0.119, 0.2)] == [0.05, 0.05, 0.02, 0.001, 0.001]
    assert plan.samples()[-1] == (0.12, 0.0, 0.0)


def test_motion_plan_from_non_motion_is_empty():
    plan = MotionPlan.from_action(Action("reply", reply="x"))
    assert plan.duration_s == 0 and plan.samples() == [(0.0, 0.0, 0.0)]


def test_motion_plan_validates():
    with pytest.raises(ValueError):
        MotionPlan(0.1, 0.0, 1.0, rate_hz=0)
    with pytest.raises(ValueError):
        MotionPlan(0.1, 0.0, math.nan)


@pytest.mark.parametrize("text", ["stop", "STOP!", "Stop the robot", "please halt", "Freeze", "EMERGENCY STOP",
                                  "e-stop", "abort", "don't move", "Don’t move", "stop moving now", "hold still"])
def test_stop_words(text):
    assert is_stop_command(text)


@pytest.mark.parametrize("text", ["Move the robot forward 2 meters", "go to the bus stop", "unstoppable",
                                  "Rotate 90 degrees clockwise", "", "cancellation policy?"])
def test_not_stop_words(text):
    # "go to the bus stop" contains the word stop: the eager rule stops (safe side); the others must not.
    assert is_stop_command(text) == (text == "go to the bus stop")
