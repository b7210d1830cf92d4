"""Safety holes found when the node was tested as an attacker would (issue #10, item 5), each with a test
that failed before the fix: sub-period motions overshooting, a lowered max_duration_s ignored by the
running motion, a publish rate below the receiver's timeout, limits raisable by any DDS participant, and
a NUL-first command."""

from __future__ import annotations

import threading
import time

import pytest

rclpy = pytest.importorskip("rclpy")

from rclpy.context import Context  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.parameter_client import AsyncParameterClient  # noqa: E402

from ros2_llm_controller.core.generation import ScriptedGenerator  # noqa: E402
from ros2_llm_controller.node import LlmControllerNode  # noqa: E402
from test_node import SCRIPT, WAIT_S, Harness, last_twist_is_zero  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.timeout(180)]
NUDGE = {**SCRIPT, "nudge": "move forward 1 mm", "long": "move forward 10 m"}


@pytest.fixture
def make():
    made: list[Harness] = []

    def factory(*args, **kwargs) -> Harness:
        made.append(Harness(*args, **kwargs))
        return made[-1]

    yield factory
    for h in made:
        h.close()


def record_publishes(node: LlmControllerNode) -> list[tuple[float, float, float]]:
    """(monotonic time, linear.x, angular.z) of every velocity the node publishes, taken in the node."""
    published: list[tuple[float, float, float]] = []
    publish = node._publish_velocity

    def wrapper(linear_x: float, angular_z: float) -> None:
        published.append((time.monotonic(), float(linear_x), float(angular_z)))
        publish(linear_x, angular_z)

    node._publish_velocity = wrapper
    return published


def set_params(h, **values):
    client = AsyncParameterClient(h.probe.node, "llm_controller")
    assert client.wait_for_services(timeout_sec=WAIT_S)
    done = threading.Event()
    future = client.set_parameters([Parameter(k, value=v) for k, v in values.items()])
    future.add_done_callback(lambda _: done.set())
    assert done.wait(WAIT_S)
    return future.result().results


@pytest.mark.parametrize("rate_hz", [5.0, 20.0])
def test_motion_shorter_than_a_period_ends_at_its_duration(make, rate_hz):
    """"move forward 1 mm" at 0.5 m/s lasts 2 ms; it used to run a whole first period (26 mm at 20 Hz,
    100 mm at 5 Hz). The zero must come within half a period (1 Hz is below the rate floor, and
    MotionPlan.next_period_s is tested at 1, 5 and 20 Hz without ROS)."""
    h = make(ScriptedGenerator(NUDGE), rate_hz=rate_hz)
    published = record_publishes(h.node)
    p = h.probe
    p.send("nudge")
    result = p.status("done", "nudge")
    assert result["state"] == "idle"
    assert p.wait_for(lambda: last_twist_is_zero(p))
    moving = [i for i, (_, lin, _) in enumerate(published) if lin != 0.0]
    assert len(moving) == 1, published
    t_move, t_zero = published[moving[0]][0], published[moving[0] + 1][0]
    assert published[moving[0] + 1][1:] == (0.0, 0.0)
    period, duration = 1.0 / rate_hz, 0.002
    assert t_zero - t_move < duration + 0.5 * (period - duration), (t_zero - t_move, period)
    assert 0.5 * (t_zero - t_move) < 0.5 * 0.5 * period  # distance driven: under half a period's worth


def test_lowering_max_duration_stops_a_motion_already_past_it(make):
    h = make(ScriptedGenerator(NUDGE))
    p = h.probe
    p.send("long")  # 10 m at 0.5 m/s: 20 s
    assert p.wait_for(lambda: len(p.nonzero()) >= 10)  # about 0.5 s in
    (r,) = set_params(h, max_duration_s=0.2)
    assert r.successful
    halt = p.status("halt", "long")
    assert halt["state"] == "stopped" and "max_duration_s" in halt["error"]
    assert p.wait_for(lambda: last_twist_is_zero(p))
    n = len(p.twists)
    assert not p.wait_for(lambda: any(t[1] != 0.0 for t in p.twists[n:]), timeout=0.5)


def test_lowering_max_duration_ends_a_motion_at_start_plus_the_new_limit(make):
    h = make(ScriptedGenerator(NUDGE))
    published = record_publishes(h.node)
    p = h.probe
    p.send("long")
    assert p.wait_for(lambda: len(p.nonzero()) >= 2)
    (r,) = set_params(h, max_duration_s=1.5)
    assert r.successful
    done = p.status("done", "long", timeout=10.0)
    assert done["state"] == "idle"
    moving = [t for t, lin, _ in published if lin != 0.0]
    t_zero = next(t for t, lin, ang in published if t > moving[0] and lin == 0.0 and ang == 0.0)
    assert 1.4 <= t_zero - moving[0] < 1.5 + 0.1, t_zero - moving[0]  # from the motion's start, not from now


def test_rate_below_the_floor_is_refused(make):
    h = make()
    for rate in (1.0, 4.0):
        (r,) = set_params(h, rate_hz=rate)
        assert not r.successful and "rate_hz" in r.reason
    (r,) = set_params(h, rate_hz=5.0)
    assert r.successful and h.node.config.rate_hz == 5.0


def test_limits_cannot_be_raised_past_the_read_only_ceilings(make):
    h = make()
    for name, value in (("max_linear_mps", 2.0), ("max_angular_rps", 3.0), ("max_duration_s", 60.0)):
        (r,) = set_params(h, **{name: value})
        assert not r.successful and "hard_max" in r.reason, name
    for name in ("hard_max_linear_mps", "hard_max_angular_rps", "hard_max_duration_s"):
        (r,) = set_params(h, **{name: 10.0})
        assert not r.successful, name  # read-only
    assert h.node.config.max_linear_mps == 1.0 and h.node.config.hard_max_linear_mps == 1.0
    (r,) = set_params(h, max_linear_mps=0.4)  # lowering still works
    assert r.successful and h.node.config.max_linear_mps == 0.4


def test_ceilings_set_at_launch_allow_higher_limits():
    context = Context()
    rclpy.init(context=context, args=["--ros-args", "-p", "hard_max_linear_mps:=2.0", "-p", "max_linear_mps:=2.0"])
    try:
        node = LlmControllerNode(generator=ScriptedGenerator({}), context=context)
        try:
            assert node.config.max_linear_mps == 2.0
        finally:
            node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
    context = Context()
    rclpy.init(context=context, args=["--ros-args", "-p", "max_linear_mps:=2.0"])
    try:
        with pytest.raises(ValueError, match="hard_max_linear_mps"):
            LlmControllerNode(generator=ScriptedGenerator({}), context=context)
    finally:
        rclpy.try_shutdown(context=context)


def test_command_starting_with_nul_is_rejected_as_empty(make):
    """ROS strings end at the first NUL: "\\x00move forward 10 m" arrives as "" and is rejected as empty."""
    h = make(ScriptedGenerator(NUDGE))
    p = h.probe
    p.send("long")
    assert p.wait_for(lambda: len(p.nonzero()) >= 2)
    p.send("\x00move forward 10 m")
    s = p.status("result", "")
    assert s["state"] == "rejected" and s["error"] == "empty command" and s["kind"] == "rejected"
    assert p.wait_for(lambda: last_twist_is_zero(p))
    assert "\x00move forward 10 m" not in h.generator.calls and "" not in h.generator.calls
