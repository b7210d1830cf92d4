"""The node runs plans, goes to places on odometry, answers "where are you" and guards every velocity:
in-process with rclpy, a scripted model, a probe and (where needed) a fake robot on the simulator's
kinematics publishing odometry. Waits are on events; timings are taken inside the node."""

from __future__ import annotations

import math
import threading
import time

import pytest

rclpy = pytest.importorskip("rclpy")

from nav_msgs.msg import Odometry  # noqa: E402
from rclpy.clock import Clock, ClockType  # noqa: E402
from rclpy.context import Context  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from geometry_msgs.msg import Twist  # noqa: E402
from sensor_msgs.msg import LaserScan  # noqa: E402

from ros2_llm_controller.core.generation import ScriptedGenerator  # noqa: E402
from ros2_llm_controller.core.places import PlacesError  # noqa: E402
from ros2_llm_controller.node import LlmControllerNode  # noqa: E402
from ros2_llm_controller.sim.physics import Circle, DiffDriveSim, World, yaw_to_quaternion  # noqa: E402
from test_node import FAST, SCRIPT, WAIT_S, Harness, last_twist_is_zero  # noqa: E402
from test_node_safety import record_publishes  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.timeout(180)]

PLANS = {**SCRIPT,
         "three steps": "move forward 0.25 m; turn left 45 deg; move back 0.25 m",
         "long plan": "move forward 2 m; turn left 90 deg; move forward 1 m",
         "go to the desk": "go to desk",
         "go to the garage": "go to garage",
         "where are you?": "query position",
         "charge": "move forward 5 m"}
PLACES_YAML = """places:
  - name: desk
    aliases: [table]
    frame_id: odom
    x: 0.6
    y: 0.4
    yaw_rad: 1.0
"""


class FakeRobot:
    """cmd_vel -> DiffDriveSim -> nav_msgs/Odometry at 50 Hz and, with a world, a LaserScan at 20 Hz."""

    def __init__(self, context: Context, world: World | None = None):
        self.node = Node("fake_robot", context=context)
        self.world = world
        self.sim = DiffDriveSim()
        self.t0 = time.monotonic()
        self.sim.reset(0.0)
        self.lock = threading.Lock()
        self.node.create_subscription(Twist, "cmd_vel", self._on_twist, 10)
        self.pub = self.node.create_publisher(Odometry, "odom", 10)
        self.node.create_timer(0.02, self._publish, clock=Clock(clock_type=ClockType.STEADY_TIME))
        if world is not None:
            self.scan_pub = self.node.create_publisher(LaserScan, "scan", 10)
            self.node.create_timer(0.05, self._scan, clock=Clock(clock_type=ClockType.STEADY_TIME))

    def _scan(self) -> None:
        with self.lock:
            self.sim.step(self._now())
            angle_min, inc, ranges = self.sim.scan(self.world)
        msg = LaserScan()
        msg.header.frame_id = "base_link"
        msg.angle_min, msg.angle_increment = angle_min, inc
        msg.angle_max = angle_min + (len(ranges) - 1) * inc
        msg.range_min, msg.range_max = 0.05, 8.0
        msg.ranges = ranges
        self.scan_pub.publish(msg)

    def _now(self) -> float:
        return time.monotonic() - self.t0

    def _on_twist(self, msg: Twist) -> None:
        with self.lock:
            self.sim.command(msg.linear.x, msg.angular.z, self._now())

    def _publish(self) -> None:
        with self.lock:
            s = self.sim.step(self._now())
            x, y, yaw = s.x, s.y, s.yaw
        msg = Odometry()
        msg.header.frame_id, msg.child_frame_id = "odom", "base_link"
        msg.pose.pose.position.x, msg.pose.pose.position.y = x, y
        q = yaw_to_quaternion(yaw)
        o = msg.pose.pose.orientation
        o.x, o.y, o.z, o.w = q
        self.pub.publish(msg)

    def pose(self) -> tuple[float, float, float]:
        with self.lock:
            s = self.sim.step(self._now())
            return s.x, s.y, s.yaw


class PlanHarness(Harness):
    """Harness with the plan planner and optional extra nodes (fake robot, scan publisher) on the probe."""

    def __init__(self, generator=None, *, robot: bool = False, world: World | None = None, **params):
        self.context = Context()
        rclpy.init(context=self.context)
        overrides = [Parameter(k, value=v) for k, v in {**FAST, **params}.items()]
        self.generator = generator or ScriptedGenerator(PLANS)
        self.node = LlmControllerNode(generator=self.generator, context=self.context, parameter_overrides=overrides)
        self.robot = FakeRobot(self.context, world) if robot or world is not None else None
        from test_node import Probe

        nodes = [self.node] + ([self.robot.node] if self.robot is not None else [])
        self.probe = Probe(self.context, nodes=nodes)
        self.probe.handshake()

    def close(self) -> None:
        super().close()
        if self.robot is not None:
            self.robot.node.destroy_node()


@pytest.fixture
def make():
    made: list[PlanHarness] = []

    def factory(*args, **kwargs) -> PlanHarness:
        made.append(PlanHarness(*args, **kwargs))
        return made[-1]

    yield factory
    for h in made:
        h.close()


def test_three_step_plan_publishes_each_velocity_in_order_then_zero(make):
    h = make()
    published = record_publishes(h.node)
    p = h.probe
    p.send("three steps")
    done = p.status("done", "three steps")
    assert done["state"] == "idle"
    assert p.wait_for(lambda: last_twist_is_zero(p))
    changes = [v for i, (_, *v) in enumerate(published) if i == 0 or tuple(v) != published[i - 1][1:]]
    assert changes == [[0.5, 0.0], [0.0, 1.5], [-0.5, 0.0], [0.0, 0.0]], changes
    steps = [s["step"] for s in p.statuses if s["event"] == "step"]
    assert [(s["index"], s["total"]) for s in steps] == [(0, 3), (1, 3), (2, 3)]
    assert steps[1]["action"]["angular_z"] == 1.5
    # Each step timed from its own start: 0.5 s, pi/4 / 1.5 s, 0.5 s.
    t = {tuple(v): ts for ts, *v in reversed(published)}
    assert t[(0.0, 1.5)] - t[(0.5, 0.0)] == pytest.approx(0.5, abs=0.03)
    assert t[(-0.5, 0.0)] - t[(0.0, 1.5)] == pytest.approx(math.pi / 4 / 1.5, abs=0.03)
    events = [s["event"] for s in p.statuses]
    assert events[:2] == ["accepted", "result"] and events[-1] == "done"


def test_stop_during_a_plan_zero_within_a_period_and_the_rest_never_runs(make):
    h = make()
    published = record_publishes(h.node)
    p = h.probe
    p.send("long plan")
    assert p.wait_for(lambda: len(p.nonzero()) >= 4)
    t_send = time.monotonic()
    p.send("stop")
    stop = p.status("result", "stop")
    assert stop["state"] == "stopped"
    assert p.wait_for(lambda: last_twist_is_zero(p))
    zero_t = next(ts for ts, lin, ang in published if ts >= t_send and (lin, ang) == (0.0, 0.0))
    last_moving = max(ts for ts, lin, ang in published if (lin, ang) != (0.0, 0.0))
    assert last_moving < zero_t
    assert zero_t - t_send < 1.0 / 20.0 + 0.05, zero_t - t_send  # one period (plus delivery on a busy machine)
    n = len(p.twists)
    assert not p.wait_for(lambda: any(t[1] != 0.0 or t[2] != 0.0 for t in p.twists[n:]), timeout=1.0)
    assert all(ang == 0.0 for _, _, ang in published), "the turn (step 2) must never run"
    rest = h.node.remaining_steps
    assert [a.type for a in rest] == ["move", "move", "move"] and rest[1].angular_z > 0
    assert 0 < rest[0].distance_m < 2.0


def test_newer_command_cancels_the_rest_of_a_plan(make):
    h = make()
    p = h.probe
    p.send("long plan")
    assert p.wait_for(lambda: len(p.nonzero()) >= 2)
    p.send("Rotate 45 degrees clockwise")
    p.status("done", "Rotate 45 degrees clockwise")
    assert p.wait_for(lambda: last_twist_is_zero(p))
    assert not any(s["event"] == "step" and s["step"]["index"] > 0 for s in p.statuses)
    assert not any(ang > 0 for _, _, ang, _ in p.twists), "the plan's left turn must never run"


def test_goto_on_odom_reaches_the_place(make, tmp_path):
    places = tmp_path / "places.yaml"
    places.write_text(PLACES_YAML)
    h = make(robot=True, places_file=str(places), navigation="odom", nav_linear_mps=0.5, nav_angular_rps=1.5,
             collision_guard=False)
    p = h.probe
    assert p.wait_for(lambda: h.node._odom is not None)
    p.send("go to the desk")
    done = p.status("done", "go to the desk", timeout=30.0)
    assert done["state"] == "idle"
    assert p.wait_for(lambda: last_twist_is_zero(p))
    feedback = [s for s in p.statuses if s["event"] == "nav_feedback"]
    assert feedback and feedback[0]["distance_remaining_m"] > feedback[-1]["distance_remaining_m"]
    x, y, yaw = h.robot.pose()
    assert math.hypot(x - 0.6, y - 0.4) <= 0.1 + 0.03  # the pose at the last odometry message, plus latency
    assert abs(math.remainder(yaw - 1.0, 2 * math.pi)) <= 0.1 + 0.05
    # "where are you?" from odometry, and the start place from the first pose.
    p.send("where are you?")
    reply = p.status("result", "where are you?")["reply"]
    assert reply.startswith("I am at x=0.") and "nearest place: desk" in reply
    assert h.node._places.resolve("where you started").name == "start"


def test_unknown_place_gets_the_list_and_no_motion(make):
    h = make()
    p = h.probe
    p.send("go to the garage")
    result = p.status("result", "go to the garage")
    assert result["error"].startswith("I don't know a place called 'garage'. Known places: charging station")
    assert result["state"] == "rejected" and result["action"]["type"] == "reject"
    assert not p.wait_for(lambda: p.nonzero(), timeout=0.5)


def wait_until(predicate, timeout: float = WAIT_S) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_guard_stops_a_motion_toward_an_obstacle(make):
    world = World((Circle(1.0, 0.0, 0.1),))  # its near edge 0.9 m ahead of the robot's centre
    h = make(world=world)
    p = h.probe
    assert wait_until(lambda: h.node._scan_data is not None and h.node._odom is not None)
    p.send("charge")  # 5 m straight at it
    halt = p.status("halt", "charge", timeout=30.0)
    assert halt["state"] == "stopped" and halt["error"].startswith("collision guard: obstacle 0.")
    g = halt["guard"]
    assert g["reason"] == "stopped" and abs(g["obstacle_bearing_deg"]) < 5.0
    assert 0.2 + 0.0 < g["obstacle_distance_m"] < 0.2 + 0.05 + 0.1  # footprint + margin (+ scan/odom lag)
    assert halt["step"] == {"index": 0, "total": 1} and 0.4 < halt["progress"]["distance_m"] < 0.7
    assert p.wait_for(lambda: last_twist_is_zero(p))
    x = h.robot.pose()[0]
    assert x + 0.2 < 0.9, "the footprint reached the obstacle"
    n = len(p.twists)
    assert not p.wait_for(lambda: any(t[1] != 0.0 for t in p.twists[n:]), timeout=0.5)


def test_guard_off_or_no_scan_ever_lets_the_motion_run(make):
    h = make()
    p = h.probe
    p.send("Move the robot forward 2 meters")  # no scan was ever received: unguarded
    assert p.status("done", "Move the robot forward 2 meters")["state"] == "idle"


def test_bad_places_file_is_a_clear_start_up_error(tmp_path):
    bad = tmp_path / "places.yaml"
    bad.write_text("places: [{name: x, x: one, y: 2}]")
    for path, expected in ((str(bad), "'x' must be a finite number"), (str(tmp_path / "missing.yaml"),
                                                                        "cannot read places file")):
        context = Context()
        rclpy.init(context=context)
        try:
            with pytest.raises(PlacesError, match=expected):
                LlmControllerNode(generator=ScriptedGenerator(PLANS), context=context,
                                  parameter_overrides=[Parameter("places_file", value=path)])
        finally:
            rclpy.try_shutdown(context=context)
