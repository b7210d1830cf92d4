"""`sim_robot`: a differential-drive kinematic simulator that closes the loop around `llm_controller`.

    cmd_vel        geometry_msgs/Twist (TwistStamped with use_stamped)  in   velocity command
    odom           nav_msgs/Odometry         out  pose and velocity (frame odom -> base_link, no TF)
    battery_state  sensor_msgs/BatteryState  out  draining with motion
    scan           sensor_msgs/LaserScan     out  360 beams against the obstacles and walls

Integrates at ``rate_hz`` (50 Hz); a command older than ``cmd_timeout_s`` (0.5 s, like
diff_drive_controller) stops the robot. The physics is ``sim.physics`` (ROS-free, unit-tested).

    ros2 run ros2_llm_controller sim_robot --ros-args -p obstacles:="[1.5, 0.0, 0.25]"
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, Sequence

from geometry_msgs.msg import Twist, TwistStamped
from nav_msgs.msg import Odometry
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import BatteryState, LaserScan

from ..core.config import ParamSpec
from ..ros_params import descriptor_for
from ..spin import run_until_signal
from .physics import DiffDriveSim, World, yaw_to_quaternion

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
)


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

        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        twist_type = TwistStamped if p["use_stamped"] else Twist
        self.create_subscription(twist_type, p["cmd_vel_topic"], self._on_cmd_vel, reliable)
        self._odom_pub = self.create_publisher(Odometry, p["odom_topic"], reliable)
        self._battery_pub = self.create_publisher(BatteryState, p["battery_topic"], qos_profile_sensor_data)
        self._scan_pub = self.create_publisher(LaserScan, p["scan_topic"], qos_profile_sensor_data)
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self.create_timer(1.0 / p["rate_hz"], self._on_step, clock=steady)
        self.create_timer(1.0 / p["scan_rate_hz"], self._on_scan, clock=steady)
        self.create_timer(1.0 / p["battery_rate_hz"], self._on_battery, clock=steady)
        self.get_logger().info(f"simulating at {p['rate_hz']:g} Hz with {len(self.world.obstacles)} obstacles; "
                               f"cmd_vel timeout {p['cmd_timeout_s']:g} s")

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


def main(argv: Sequence[str] | None = None) -> int:
    return run_until_signal(NODE_NAME, lambda _fatal: SimRobotNode(), list(sys.argv if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
