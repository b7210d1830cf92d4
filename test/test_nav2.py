"""navigation: nav2. The node's real NavigateToPose client (nav2_backend) against the simulator's server
(sim/node.py, a stand-in for Nav2 on the same kinematics), the server alone, the start-up check for a
missing nav2_msgs, and the simulator's collision count. In-process rclpy; waits are on events."""

from __future__ import annotations

import math
import sys
import threading
import time

import pytest

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("nav2_msgs.action", reason="nav2_msgs is not built: make setup builds it into .venv")

from geometry_msgs.msg import Twist  # noqa: E402
from nav2_msgs.action import NavigateToPose  # noqa: E402
from action_msgs.msg import GoalStatus  # noqa: E402
from rclpy.action import ActionClient  # noqa: E402
from rclpy.context import Context  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from std_msgs.msg import UInt32  # noqa: E402

from ros2_llm_controller.core.generation import ScriptedGenerator  # noqa: E402
from ros2_llm_controller.node import LlmControllerNode  # noqa: E402
from ros2_llm_controller.sim.node import SimRobotNode  # noqa: E402
from ros2_llm_controller.spin import ExecutorThread  # noqa: E402
from test_node import FAST, SCRIPT, WAIT_S, Harness, Probe, last_twist_is_zero  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.timeout(180)]

NAV_SCRIPT = {**SCRIPT, "go to the kitchen": "go to kitchen"}
KITCHEN = (4.0, 3.0, 0.0)  # config/places.yaml
FAST_SIM = {"nav_linear_mps": 1.0, "nav_angular_rps": 1.5}


class Nav2Harness(Harness):
    """The controller with navigation=nav2 and, unless ``sim`` is False, the simulator with its server;
    the sim's velocity commands (from cmd_vel and from its NavigateToPose server) are recorded."""

    def __init__(self, *, sim: bool = True, sim_params: dict | None = None, **params):
        self.context = Context()
        rclpy.init(context=self.context)
        overrides = [Parameter(k, value=v) for k, v in {**FAST, "navigation": "nav2", **params}.items()]
        self.node = LlmControllerNode(generator=ScriptedGenerator(NAV_SCRIPT), context=self.context,
                                      parameter_overrides=overrides)
        self.sim = None
        self.commands: list[tuple[float, float, float]] = []  # (monotonic, v, w) applied in the simulator
        if sim:
            self.sim = SimRobotNode(context=self.context, parameter_overrides=[
                Parameter(k, value=v) for k, v in {**FAST_SIM, **(sim_params or {})}.items()])
            command = self.sim.sim.command

            def record(v: float, w: float, t: float) -> None:
                self.commands.append((time.monotonic(), float(v), float(w)))
                command(v, w, t)

            self.sim.sim.command = record
        self.probe = Probe(self.context, nodes=[self.node] + ([self.sim] if sim else []))
        self.probe.handshake()

    def pose(self) -> tuple[float, float, float]:
        with self.sim._lock:
            s = self.sim.sim.step(self.sim._now())
            return s.x, s.y, s.yaw

    def close(self) -> None:
        super().close()
        if self.sim is not None:
            self.sim.destroy_node()


def wait_until(predicate, timeout: float = WAIT_S) -> bool:
    """For state the probe is not notified of (the simulator's, the action client's): poll every 10 ms."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture
def make():
    made: list[Nav2Harness] = []

    def factory(**kwargs) -> Nav2Harness:
        made.append(Nav2Harness(**kwargs))
        return made[-1]

    yield factory
    for h in made:
        h.close()


@pytest.mark.slow  # 5 m at the sim's 1 m/s: about 9 s
def test_go_to_kitchen_through_the_action_reaches_it_with_feedback_on_status(make):
    h = make()
    p = h.probe
    assert wait_until(lambda: h.node.nav_backend.server_is_ready() and h.node._odom is not None)
    p.send("go to the kitchen")
    done = p.status("done", "go to the kitchen", timeout=40.0)
    assert done["state"] == "idle"
    assert h.sim.nav_outcomes == [("succeeded", 0, "")]
    x, y, yaw = h.pose()
    assert math.hypot(x - KITCHEN[0], y - KITCHEN[1]) <= 0.1  # the server's xy tolerance
    assert abs(math.remainder(yaw - KITCHEN[2], 2 * math.pi)) <= 0.1
    feedback = [s for s in p.statuses if s["event"] == "nav_feedback"]
    assert len(feedback) >= 3
    assert feedback[0]["distance_remaining_m"] > 4.0 > feedback[-1]["distance_remaining_m"]
    assert feedback[-1]["navigation_time_s"] > feedback[0]["navigation_time_s"] >= 0.0
    assert all(f["number_of_recoveries"] == 0 and f["step"] == {"index": 0, "total": 1} for f in feedback)
    # Nav2 drives: the controller itself only published zeros (the one at the hand-over).
    assert not p.nonzero() and last_twist_is_zero(p)


def test_stop_during_navigation_cancels_the_goal_and_the_robot_stops(make):
    h = make()
    p = h.probe
    assert wait_until(lambda: h.node.nav_backend.server_is_ready() and h.node._odom is not None)
    p.send("go to the kitchen")
    # Under way: feedback on status and the server driving forward (past the first turn).
    assert wait_until(lambda: any(s["event"] == "nav_feedback" for s in p.statuses)
                      and any(v > 0.3 for _, v, _ in h.commands), timeout=30.0)
    t_send = time.monotonic()
    p.send("stop")
    assert p.status("result", "stop")["state"] == "stopped"
    assert wait_until(lambda: h.sim.nav_outcomes != [])
    assert h.sim.nav_outcomes == [("canceled", 0, "canceled")]
    after = [c for c in h.commands if c[0] >= t_send]
    last_moving = max((t for t, v, w in after if (v, w) != (0.0, 0.0)), default=t_send)
    zero_t = next(t for t, v, w in after if t >= last_moving and (v, w) == (0.0, 0.0))
    # 50 ms (plus delivery on a machine shared with a training run): the simulated robot is at zero.
    assert zero_t - t_send < 0.05 + 0.05, zero_t - t_send
    x0 = h.pose()
    n = len(h.commands)
    assert not wait_until(lambda: any((v, w) != (0.0, 0.0) for _, v, w in h.commands[n:]), timeout=0.5)
    assert h.pose()[:2] == pytest.approx(x0[:2], abs=1e-9)
    assert not any(s["event"] in ("done", "halt") for s in p.statuses if s["command"] == "go to the kitchen")


def test_newer_command_cancels_the_goal_and_runs(make):
    h = make()
    p = h.probe
    assert wait_until(lambda: h.node.nav_backend.server_is_ready() and h.node._odom is not None)
    p.send("go to the kitchen")
    assert wait_until(lambda: any(s["event"] == "nav_feedback" for s in p.statuses), timeout=30.0)
    p.send("Rotate 45 degrees clockwise")
    assert p.status("done", "Rotate 45 degrees clockwise")["state"] == "idle"
    assert wait_until(lambda: h.sim.nav_outcomes != [])
    assert h.sim.nav_outcomes == [("canceled", 0, "canceled")]
    assert any(ang < 0 for _, _, ang, _ in p.twists) and last_twist_is_zero(p)


def test_no_server_is_a_clear_failure_and_zero(make):
    h = make(sim=False, nav2_server_timeout_s=0.3)
    p = h.probe
    p.send("go to the kitchen")
    halt = p.status("halt", "go to the kitchen")
    assert halt["state"] == "stopped"
    assert halt["error"] == ("navigation failed: no NavigateToPose action server '/navigate_to_pose' after 0.3 s "
                             "(is Nav2 running? parameter nav2_action)")
    assert p.wait_for(lambda: last_twist_is_zero(p)) and not p.nonzero()


def test_nav2_msgs_missing_fails_nav2_at_start_up_and_odom_starts(monkeypatch):
    monkeypatch.setitem(sys.modules, "nav2_msgs", None)  # import nav2_msgs -> ImportError
    monkeypatch.setitem(sys.modules, "nav2_msgs.action", None)
    from ros2_llm_controller.nav2_backend import Nav2Unavailable

    context = Context()
    rclpy.init(context=context)
    try:
        with pytest.raises(Nav2Unavailable, match=r"navigation=nav2 needs nav2_msgs/action/NavigateToPose.*make "
                                                  r"setup.*navigation:=odom"):
            LlmControllerNode(generator=ScriptedGenerator(NAV_SCRIPT), context=context,
                              parameter_overrides=[Parameter("navigation", value="nav2")])
        node = LlmControllerNode(generator=ScriptedGenerator(NAV_SCRIPT), context=context,
                                 parameter_overrides=[Parameter("navigation", value="odom")])
        assert node.nav_backend is None
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)


def test_sim_server_aborts_on_an_obstacle_a_timeout_and_an_unknown_frame():
    """The server alone, with a plain ActionClient: error codes and messages as Nav2 gives them."""
    ctx = Context()
    rclpy.init(context=ctx)
    sim = SimRobotNode(context=ctx, parameter_overrides=[Parameter("obstacles", value=[1.0, 0.0, 0.2]),
                                                         Parameter("nav_timeout_s", value=2.0)])
    client_node = Node("nav_client", context=ctx)
    client = ActionClient(client_node, NavigateToPose, "navigate_to_pose")
    spinner = ExecutorThread([sim, client_node], context=ctx)

    def make_goal(x: float, y: float, frame: str = "odom"):
        goal = NavigateToPose.Goal()
        goal.pose.header.frame_id = frame
        goal.pose.pose.position.x, goal.pose.pose.position.y = x, y
        goal.pose.pose.orientation.w = 1.0
        return goal

    def navigate(x: float, y: float, frame: str = "odom"):
        goal = make_goal(x, y, frame)
        done = threading.Event()
        out = {}

        def on_result(f):
            out["response"] = f.result()
            done.set()

        def on_goal(f):
            f.result().get_result_async().add_done_callback(on_result)

        client.send_goal_async(goal).add_done_callback(on_goal)
        assert done.wait(WAIT_S)
        r = out["response"]
        return r.status, r.result.error_code, r.result.error_msg

    ABORTED = GoalStatus.STATUS_ABORTED
    try:
        assert client.wait_for_server(timeout_sec=WAIT_S)
        status, code, msg = navigate(2.0, 0.0)  # straight at the obstacle (near edge 0.8 m ahead)
        assert (status, code) == (ABORTED, NavigateToPose.Result.UNKNOWN)
        assert msg.startswith("obstacle on the path at 0."), msg
        status, code, msg = navigate(-3.0, 0.0)  # half a turn first: longer than nav_timeout_s
        assert (status, code) == (ABORTED, NavigateToPose.Result.TIMEOUT) and msg.startswith("timed out after 2 s")
        # A newer goal preempts the one running (ABORTED, as Nav2 does).
        first = {}
        client.send_goal_async(make_goal(-3.0, 0.0)).add_done_callback(
            lambda f: f.result().get_result_async().add_done_callback(lambda r: first.update(r=r.result())))
        assert wait_until(lambda: sim._goal is not None)
        status, code, msg = navigate(1.0, 1.0, frame="base_footprint")
        assert (status, code) == (ABORTED, NavigateToPose.Result.TF_ERROR) and "unknown frame 'base_footprint'" in msg
        assert wait_until(lambda: "r" in first)
        assert first["r"].status == ABORTED and first["r"].result.error_msg == "preempted by a newer goal"
        assert [o[0] for o in sim.nav_outcomes] == ["aborted"] * 4
    finally:
        spinner.close()
        client.destroy()
        sim.destroy_node()
        client_node.destroy_node()
        rclpy.try_shutdown(context=ctx)


def test_sim_counts_and_publishes_collisions():
    ctx = Context()
    rclpy.init(context=ctx)
    sim = SimRobotNode(context=ctx, parameter_overrides=[Parameter("obstacles", value=[0.5, 0.0, 0.2]),
                                                         Parameter("nav2_server", value=False)])
    probe = Node("collision_probe", context=ctx)
    counts: list[int] = []
    cond = threading.Condition()

    def on_count(msg: UInt32) -> None:
        with cond:
            counts.append(msg.data)
            cond.notify_all()

    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    probe.create_subscription(UInt32, "collisions", on_count, latched)
    pub = probe.create_publisher(Twist, "cmd_vel", 10)
    spinner = ExecutorThread([sim, probe], context=ctx)
    try:
        with cond:  # the count at start (0) reaches a subscriber that joined later (transient local)
            assert cond.wait_for(lambda: counts == [0] and pub.get_subscription_count() > 0, WAIT_S)
        twist = Twist()
        twist.linear.x = 0.5  # the footprint (0.2 m) touches the obstacle's edge (0.3 m) after 0.2 m
        pub.publish(twist)
        with cond:
            assert cond.wait_for(lambda: counts == [0, 1], WAIT_S), counts
        assert sim.collisions.count == 1 and sim.collisions.max_depth_m > 0
    finally:
        spinner.close()
        sim.destroy_node()
        probe.destroy_node()
        rclpy.try_shutdown(context=ctx)
