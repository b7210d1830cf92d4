"""`sim_robot`: a differential-drive kinematic simulator that closes the loop around `llm_controller`.

    cmd_vel        geometry_msgs/Twist (TwistStamped with use_stamped)  in   velocity command
    odom           nav_msgs/Odometry         out  pose and velocity (frame odom -> base_link, no TF)
    battery_state  sensor_msgs/BatteryState  out  draining with motion
    scan           sensor_msgs/LaserScan     out  360 beams against the obstacles and walls
    collisions     std_msgs/UInt32           out  collisions so far: published at start (0) and at each new
                                                  contact (footprint overlapping an obstacle or a wall);
                                                  reliable, transient local (a late subscriber gets the count)
    navigate_to_pose  nav2_msgs/action/NavigateToPose  server (``nav2_server``, on by default; needs nav2_msgs)

Integrates at ``rate_hz`` (50 Hz); a command older than ``cmd_timeout_s`` (0.5 s, like
diff_drive_controller) stops the robot. The physics is ``sim.physics`` (ROS-free, unit-tested);
collisions are counted with ``sim.collisions.CollisionCounter`` (a circle of ``footprint_radius_m``).

The NavigateToPose server is a stand-in for Nav2 on the same kinematics: at ``nav_rate_hz`` it runs
``core.navigation.GoToPose`` on the simulated pose and latest scan and commands its velocities in the
simulator, as Nav2's controller server would on cmd_vel (they do not appear on cmd_vel). Feedback carries
current_pose, navigation_time, estimated_time_remaining, number_of_recoveries (0) and distance_remaining.
The goal succeeds within ``nav_xy_tolerance_m`` / ``nav_yaw_tolerance_rad``; it aborts with TIMEOUT after
``nav_timeout_s``, with UNKNOWN when a scan return lies on the path within ``nav_stop_distance_m``, and with
TF_ERROR for a frame other than ``odom_frame`` or ``map`` (the simulator's map and odom frames coincide: no
localisation drift). A cancel zeroes the robot at once and ends the goal CANCELED; a newer goal preempts the
current one (ABORTED, like Nav2's).

    ros2 run ros2_llm_controller sim_robot --ros-args -p obstacles:="[1.5, 0.0, 0.25]"
"""

from __future__ import annotations

import math
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from builtin_interfaces.msg import Duration as DurationMsg
from geometry_msgs.msg import Twist, TwistStamped
from nav_msgs.msg import Odometry
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import BatteryState, LaserScan
from std_msgs.msg import UInt32

from ..core.collision_guard import ScanData
from ..core.config import ParamSpec
from ..core.navigation import GoToPose, NavParams, NavStatus
from ..ros_params import descriptor_for
from ..spin import run_until_signal
from .collisions import CollisionCounter
from .physics import DiffDriveSim, World, quaternion_to_yaw, yaw_to_quaternion

NODE_NAME = "sim_robot"
# Three obstacles: one 3 m ahead (0.7 m past the course's "forward 2 meters"), one to the left, one behind.
DEFAULT_OBSTACLES = [3.0, 0.0, 0.3, 0.5, 1.6, 0.25, -1.8, -1.2, 0.4]
SIM_PARAMS = (
    ParamSpec("rate_hz", 50.0, "Integration and odometry rate", "Hz", 1.0, 1000.0, read_only=True),
    ParamSpec("cmd_timeout_s", 0.5, "A velocity command older than this stops the robot", "s", 0.01, 10.0),
    ParamSpec("use_stamped", False, "Subscribe geometry_msgs/TwistStamped instead of Twist", read_only=True),
    ParamSpec("cmd_vel_topic", "cmd_vel", "Velocity command input", read_only=True),
    ParamSpec("odom_topic", "odom", "nav_msgs/Odometry output", read_only=True),
    ParamSpec("battery_topic", "battery_state", "sensor_msgs/BatteryState output", read_only=True),
    ParamSpec("scan_topic", "scan", "sensor_msgs/LaserScan output", read_only=True),
    ParamSpec("odom_frame", "odom", "Odometry frame_id", read_only=True),
    ParamSpec("base_frame", "base_link", "Odometry child_frame_id and scan frame", read_only=True),
    ParamSpec("scan_rate_hz", 10.0, "LaserScan rate", "Hz", 0.1, 100.0, read_only=True),
    ParamSpec("scan_beams", 360, "Beams per scan, over a full turn", "beams", 4, 4096, read_only=True),
    ParamSpec("scan_range_max_m", 8.0, "Laser range", "m", 0.5, 100.0, read_only=True),
    ParamSpec("battery_rate_hz", 2.0, "BatteryState rate", "Hz", 0.1, 50.0, read_only=True),
    ParamSpec("battery_start", 0.9, "State of charge at start, 0..1", "", 0.0, 1.0, read_only=True),
    ParamSpec("battery_capacity_wh", 20.0, "Battery capacity (small, so a demo shows it drain)", "Wh", 0.1, 10000.0,
              read_only=True),
    ParamSpec("obstacles", DEFAULT_OBSTACLES, "Round obstacles as x, y, radius triples in the odom frame [m]",
              read_only=True),
    ParamSpec("world_half_size_m", 6.0, "Walls at +-this distance from the origin", "m", 0.5, 1000.0, read_only=True),
    ParamSpec("footprint_radius_m", 0.2, "Robot footprint (a circle): a collision is it overlapping an obstacle or "
              "a wall; also the width of the NavigateToPose server's obstacle corridor", "m", 0.01, 5.0,
              read_only=True),
    ParamSpec("collisions_topic", "collisions", "std_msgs/UInt32 output: the collision count", read_only=True),
    ParamSpec("nav2_server", True, "Serve nav2_msgs/action/NavigateToPose, a stand-in for Nav2 on the same "
              "kinematics (skipped with a warning when nav2_msgs cannot be imported)", read_only=True),
    ParamSpec("nav2_action", "navigate_to_pose", "NavigateToPose action name", read_only=True),
    ParamSpec("nav_rate_hz", 20.0, "NavigateToPose server: control rate (Nav2's controller_frequency)", "Hz",
              1.0, 200.0, read_only=True),
    ParamSpec("nav_xy_tolerance_m", 0.1, "NavigateToPose server: goal reached within this distance", "m",
              0.01, 5.0, read_only=True),
    ParamSpec("nav_yaw_tolerance_rad", 0.1, "NavigateToPose server: goal heading reached within this angle",
              "rad", 0.01, 1.0, read_only=True),
    ParamSpec("nav_linear_mps", 0.5, "NavigateToPose server: top speed", "m/s", 0.01, 10.0, read_only=True),
    ParamSpec("nav_angular_rps", 1.0, "NavigateToPose server: top turn rate", "rad/s", 0.05, 10.0, read_only=True),
    ParamSpec("nav_timeout_s", 120.0, "NavigateToPose server: abort (TIMEOUT) after this long", "s", 0.1, 3600.0,
              read_only=True),
    ParamSpec("nav_stop_distance_m", 0.5, "NavigateToPose server: abort when a scan return lies this close ahead "
              "on the path", "m", 0.0, 10.0, read_only=True),
)
MAP_FRAME = "map"  # accepted as the odom frame: the simulator has no localisation drift


@dataclass
class _NavGoal:
    """One NavigateToPose goal being driven by the simulator."""

    handle: Any  # rclpy ServerGoalHandle
    nav: GoToPose
    frame_id: str
    t0: float
    outcome: tuple[str, int, str] | None = None  # ("succeeded" | "aborted" | "canceled", error_code, error_msg)


class SimRobotNode(Node):
    def __init__(self, **node_kwargs: Any):
        super().__init__(NODE_NAME, **node_kwargs)
        for spec in SIM_PARAMS:
            self.declare_parameter(spec.name, spec.default, descriptor_for(spec))
        p = {spec.name: self.get_parameter(spec.name).value for spec in SIM_PARAMS}
        self.params = p
        self.world = World.from_flat(p["obstacles"], p["world_half_size_m"])
        self.sim = DiffDriveSim(cmd_timeout_s=p["cmd_timeout_s"], battery_capacity_wh=p["battery_capacity_wh"])
        self._lock = threading.Lock()
        self.sim.reset(self._now(), battery=p["battery_start"])
        self.commands_received = 0
        self.collisions = CollisionCounter(p["footprint_radius_m"])
        self._scan_data: ScanData | None = None  # the latest scan, for the NavigateToPose server

        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        twist_type = TwistStamped if p["use_stamped"] else Twist
        self.create_subscription(twist_type, p["cmd_vel_topic"], self._on_cmd_vel, reliable)
        self._odom_pub = self.create_publisher(Odometry, p["odom_topic"], reliable)
        self._battery_pub = self.create_publisher(BatteryState, p["battery_topic"], qos_profile_sensor_data)
        self._scan_pub = self.create_publisher(LaserScan, p["scan_topic"], qos_profile_sensor_data)
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self._collisions_pub = self.create_publisher(UInt32, p["collisions_topic"], latched)
        self._collisions_pub.publish(UInt32(data=0))
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self.create_timer(1.0 / p["rate_hz"], self._on_step, clock=steady)
        self.create_timer(1.0 / p["scan_rate_hz"], self._on_scan, clock=steady)
        self.create_timer(1.0 / p["battery_rate_hz"], self._on_battery, clock=steady)
        self._nav_server = None
        self._goal: _NavGoal | None = None
        self._nav_lock = threading.RLock()
        self._outcomes: dict[bytes, tuple[str, int, str]] = {}
        self.nav_outcomes: list[tuple[str, int, str]] = []  # every finished goal, in order (tests, evaluation)
        if p["nav2_server"]:
            self._start_nav_server(steady)
        self.get_logger().info(f"simulating at {p['rate_hz']:g} Hz with {len(self.world.obstacles)} obstacles; "
                               f"cmd_vel timeout {p['cmd_timeout_s']:g} s; NavigateToPose server "
                               f"{'on ' + self.resolve_topic_name(p['nav2_action']) if self._nav_server else 'off'}")

    @staticmethod
    def _now() -> float:
        return time.monotonic()

    def _on_cmd_vel(self, msg: Twist | TwistStamped) -> None:
        twist = msg.twist if isinstance(msg, TwistStamped) else msg
        with self._lock:
            self.sim.command(twist.linear.x, twist.angular.z, self._now())
            self.commands_received += 1

    def _on_step(self) -> None:
        with self._lock:
            s = self.sim.step(self._now())
            x, y, yaw, v, w = s.x, s.y, s.yaw, s.linear_x, s.angular_z
            before = self.collisions.count
            touching = self.collisions.update(self.world, x, y)
            count = self.collisions.count
        if count > before:
            self._collisions_pub.publish(UInt32(data=count))
            what = ", ".join(f"{c.what} {c.index} ({c.depth_m * 100:.1f} cm deep)" for c in touching)
            self.get_logger().warning(f"collision #{count} at ({x:.2f}, {y:.2f}): {what}")
        msg = Odometry()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = self.params["odom_frame"]
        msg.child_frame_id = self.params["base_frame"]
        msg.pose.pose.position.x, msg.pose.pose.position.y = x, y
        q = msg.pose.pose.orientation
        q.x, q.y, q.z, q.w = yaw_to_quaternion(yaw)
        msg.twist.twist.linear.x, msg.twist.twist.angular.z = v, w
        self._odom_pub.publish(msg)

    def _on_scan(self) -> None:
        with self._lock:
            angle_min, inc, ranges = self.sim.scan(self.world, self.params["scan_beams"],
                                                   self.params["scan_range_max_m"])
        msg = LaserScan()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = self.params["base_frame"]
        msg.angle_min, msg.angle_increment = angle_min, inc
        msg.angle_max = angle_min + inc * (len(ranges) - 1)
        msg.scan_time = 1.0 / self.params["scan_rate_hz"]
        msg.range_min, msg.range_max = 0.05, float(self.params["scan_range_max_m"])
        msg.ranges = [float(r) for r in ranges]
        self._scan_data = ScanData(np.asarray(ranges, dtype=float), angle_min, inc, msg.range_min, msg.range_max)
        self._scan_pub.publish(msg)

    def _on_battery(self) -> None:
        with self._lock:
            soc, volts = self.sim.state.battery, self.sim.battery_voltage()
            moving = self.sim.state.linear_x != 0 or self.sim.state.angular_z != 0
        msg = BatteryState()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.percentage, msg.voltage = float(soc), float(volts)
        msg.current = float("nan")
        msg.present = True
        msg.power_supply_status = (BatteryState.POWER_SUPPLY_STATUS_DISCHARGING if moving or soc < 1.0
                                   else BatteryState.POWER_SUPPLY_STATUS_FULL)
        msg.power_supply_technology = BatteryState.POWER_SUPPLY_TECHNOLOGY_LION
        self._battery_pub.publish(msg)


    # ---- NavigateToPose: a stand-in for Nav2 ----

    def _start_nav_server(self, clock: Clock) -> None:
        try:
            from nav2_msgs.action import NavigateToPose
            from rclpy.action import ActionServer, CancelResponse, GoalResponse
        except ImportError as exc:
            self.get_logger().warning(f"NavigateToPose server off: nav2_msgs cannot be imported ({exc}); "
                                      "make setup builds it")
            return
        p = self.params
        self._nav_type, self._cancel_response = NavigateToPose, CancelResponse
        self._nav_params = NavParams(
            xy_tolerance_m=p["nav_xy_tolerance_m"], yaw_tolerance_rad=p["nav_yaw_tolerance_rad"],
            max_linear_mps=p["nav_linear_mps"], max_angular_rps=p["nav_angular_rps"],
            min_linear_mps=min(0.05, p["nav_linear_mps"]), min_angular_rps=min(0.1, p["nav_angular_rps"]),
            turn_in_place_rad=max(0.5, 2 * p["nav_yaw_tolerance_rad"]), timeout_s=p["nav_timeout_s"],
            stop_distance_m=p["nav_stop_distance_m"], robot_width_m=2 * p["footprint_radius_m"])
        # The registered execute callback only reports a finished goal's outcome: the goal is driven by the
        # timer below, and ``notify_execute`` runs this callback once it is over (see _finish_goal).
        self._nav_server = ActionServer(self, NavigateToPose, p["nav2_action"], self._nav_report,
                                        goal_callback=lambda _goal: GoalResponse.ACCEPT,
                                        handle_accepted_callback=self._nav_accepted,
                                        cancel_callback=self._nav_cancel)
        self.create_timer(1.0 / p["nav_rate_hz"], self._on_nav_tick, clock=clock)

    def _nav_accepted(self, handle) -> None:
        pose = handle.request.pose
        q = pose.pose.orientation
        goal = (pose.pose.position.x, pose.pose.position.y, quaternion_to_yaw(q.x, q.y, q.z, q.w))
        frame = pose.header.frame_id
        result = self._nav_type.Result
        with self._nav_lock:
            if self._goal is not None:
                self._finish_goal(self._goal, "aborted", result.UNKNOWN, "preempted by a newer goal")
            _mark_executing(handle)
            if frame not in (self.params["odom_frame"], MAP_FRAME):
                g = _NavGoal(handle, None, frame, self._now())
                self._finish_goal(g, "aborted", result.TF_ERROR, f"unknown frame '{frame}' (the simulator knows "
                                  f"'{self.params['odom_frame']}' and '{MAP_FRAME}')")
                return
            if not all(math.isfinite(v) for v in goal):
                g = _NavGoal(handle, None, frame, self._now())
                self._finish_goal(g, "aborted", result.UNKNOWN, "goal pose is not finite")
                return
            self._goal = _NavGoal(handle, GoToPose(goal, self._nav_params, frame), frame, self._now())
        self.get_logger().info(f"NavigateToPose goal: ({goal[0]:.2f}, {goal[1]:.2f}, {goal[2]:.2f} rad) in '{frame}'")

    def _nav_cancel(self, handle):
        with self._nav_lock:
            g = self._goal
            if g is None or g.handle is not handle or g.outcome is not None:
                return self._cancel_response.REJECT
            self._finish_goal(g, "canceled", self._nav_type.Result.NONE, "canceled")
        return self._cancel_response.ACCEPT

    def _finish_goal(self, g: _NavGoal, outcome: str, code: int, message: str) -> None:
        """End a goal (caller holds _nav_lock): zero at once, then the result through the execute callback."""
        g.outcome = (outcome, int(code), message)
        if self._goal is g:
            self._goal = None
            with self._lock:
                self.sim.command(0.0, 0.0, self._now())
        self._outcomes[bytes(g.handle.goal_id.uuid)] = g.outcome
        self.nav_outcomes.append(g.outcome)
        if self._nav_server is not None:  # None once destroyed
            self._nav_server.notify_execute(g.handle, None)
        log = self.get_logger().info if outcome == "succeeded" else self.get_logger().warning
        log(f"NavigateToPose goal {outcome}" + (f": {message}" if outcome != "succeeded" else ""))

    def _nav_report(self, handle):
        """The execute callback: the finished goal's terminal state and result."""
        outcome, code, message = self._outcomes.pop(bytes(handle.goal_id.uuid), ("aborted", 9000, "lost goal"))
        if outcome == "succeeded":
            handle.succeed()
        elif outcome == "canceled" and handle.is_cancel_requested:
            handle.canceled()
        else:
            handle.abort()
        return self._nav_type.Result(error_code=code, error_msg=message)

    def _on_nav_tick(self) -> None:
        with self._nav_lock:
            g = self._goal
            if g is None:
                return
            now = self._now()
            with self._lock:
                s = self.sim.step(now)
                pose = (s.x, s.y, s.yaw)
            cmd = g.nav.update(now, pose, self._scan_data)
            result = self._nav_type.Result
            if cmd.status is NavStatus.SUCCEEDED:
                self._finish_goal(g, "succeeded", result.NONE, "")
                return
            if cmd.status is NavStatus.FAILED:
                code = result.TIMEOUT if (cmd.reason or "").startswith("timed out") else result.UNKNOWN
                self._finish_goal(g, "aborted", code, cmd.reason or "failed")
                return
            with self._lock:
                self.sim.command(cmd.linear_x, cmd.angular_z, now)
        fb = self._nav_type.Feedback()
        fb.current_pose.header.stamp = self.get_clock().now().to_msg()
        fb.current_pose.header.frame_id = g.frame_id
        fb.current_pose.pose.position.x, fb.current_pose.pose.position.y = pose[0], pose[1]
        o = fb.current_pose.pose.orientation
        o.x, o.y, o.z, o.w = yaw_to_quaternion(pose[2])
        dist = cmd.distance_remaining_m or 0.0
        fb.distance_remaining = float(dist)
        fb.navigation_time = _duration(now - g.t0)
        fb.estimated_time_remaining = _duration(dist / self._nav_params.max_linear_mps)
        fb.number_of_recoveries = 0
        g.handle.publish_feedback(fb)

    def destroy_node(self) -> None:
        server, self._nav_server = self._nav_server, None  # once: rclpy's shutdown destroys nodes too
        if server is not None:
            server.destroy()
        super().destroy_node()


def _duration(seconds: float) -> DurationMsg:
    ns = int(max(0.0, seconds) * 1e9)
    return DurationMsg(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def _mark_executing(handle) -> None:
    """ACCEPTED -> EXECUTING without an execute task: rclpy has no public call for a goal that a timer drives
    (its execute callback would have to block the single-threaded executor, or be a coroutine, which it
    resumes in a busy loop). Without that private method the goal stays ACCEPTED, which clients accept too."""
    try:
        from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy

        handle._update_state(_rclpy.GoalEvent.EXECUTE)
    except Exception:  # noqa: BLE001
        pass


def main(argv: Sequence[str] | None = None) -> int:
    return run_until_signal(NODE_NAME, lambda _fatal: SimRobotNode(), list(sys.argv if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
