"""A differential-drive kinematic robot in a small 2-D world: pose, battery and a laser scan (ROS-free).

Ideal kinematics (no acceleration limits, no slip), so what the closed-loop evaluation measures is
the controller, not a vehicle model. Like ros2_control's diff_drive_controller, a velocity command
goes stale after ``cmd_timeout_s`` and the robot stops. Motion is integrated exactly for a
constant (v, w) over each step, so the result does not depend on the step size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

from ..core.units import wrap_angle


@dataclass(frozen=True)
class Circle:
    x: float
    y: float
    radius_m: float


@dataclass(frozen=True)
class World:
    """Round obstacles inside a square room with walls at +-``half_size_m``."""

    obstacles: tuple[Circle, ...] = ()
    half_size_m: float = 6.0

    @classmethod
    def from_flat(cls, values: Sequence[float], half_size_m: float = 6.0) -> "World":
        """``[x1, y1, r1, x2, y2, r2, ...]`` (the form a ROS double-array parameter can hold)."""
        values = list(values)
        if len(values) % 3:
            raise ValueError(f"obstacles must be x, y, radius triples; got {len(values)} numbers")
        circles = tuple(Circle(*values[i:i + 3]) for i in range(0, len(values), 3))
        for c in circles:
            if not (c.radius_m > 0 and all(math.isfinite(v) for v in (c.x, c.y, c.radius_m))):
                raise ValueError(f"bad obstacle {c}: radius must be positive and values finite")
        if not half_size_m > 0:
            raise ValueError("half_size_m must be positive")
        return cls(circles, half_size_m)

    def ray(self, x: float, y: float, angle: float, range_max: float) -> float:
        """Distance along a ray to the first obstacle or wall; +inf beyond ``range_max`` (REP 117)."""
        dx, dy = math.cos(angle), math.sin(angle)
        best = math.inf
        for c in self.obstacles:
            ox, oy = x - c.x, y - c.y
            b = ox * dx + oy * dy
            disc = b * b - (ox * ox + oy * oy - c.radius_m ** 2)
            if disc < 0:
                continue
            root = math.sqrt(disc)
            for t in (-b - root, -b + root):
                if t >= 0:
                    best = min(best, t)
                    break
        h = self.half_size_m
        for pos, d in ((x, dx), (y, dy)):
            if d > 1e-12:
                best = min(best, (h - pos) / d)
            elif d < -1e-12:
                best = min(best, (-h - pos) / d)
        return best if best <= range_max else math.inf


@dataclass
class RobotState:
    x: float = 0.0
    y: float = 0.0
    yaw: float = 0.0  # wrapped to (-pi, pi]
    yaw_unwrapped: float = 0.0  # total rotation since start (no wrap): what a turn measures
    linear_x: float = 0.0  # velocity applied now (zero when stale)
    angular_z: float = 0.0
    distance_m: float = 0.0  # path length travelled
    battery: float = 0.9  # state of charge, 0..1
    t_s: float = 0.0


@dataclass
class DiffDriveSim:
    """Integrates /cmd_vel into a pose; drains a battery; scans the world."""

    cmd_timeout_s: float = 0.5
    battery_capacity_wh: float = 20.0
    idle_power_w: float = 4.0
    power_per_mps_w: float = 30.0  # extra draw per m/s of forward speed
    power_per_rps_w: float = 10.0  # extra draw per rad/s of turn rate
    state: RobotState = field(default_factory=RobotState)
    _cmd: tuple[float, float] = (0.0, 0.0)
    _cmd_t: float | None = None

    def reset(self, t_s: float, x: float = 0.0, y: float = 0.0, yaw: float = 0.0, battery: float = 0.9) -> None:
        self.state = RobotState(x, y, wrap_angle(yaw), yaw, battery=battery, t_s=t_s)
        self._cmd, self._cmd_t = (0.0, 0.0), None

    def command(self, linear_x: float, angular_z: float, t_s: float) -> None:
        """A velocity command received at ``t_s``; non-finite values are ignored (kept stale)."""
        if not (math.isfinite(linear_x) and math.isfinite(angular_z)):
            return
        self.step(t_s)  # the previous command applies up to now
        self._cmd, self._cmd_t = (float(linear_x), float(angular_z)), t_s

    def step(self, t_s: float) -> RobotState:
        """Advance to ``t_s``; a command older than ``cmd_timeout_s`` stops the robot."""
        s = self.state
        if t_s <= s.t_s:
            return s
        active_until = -math.inf if self._cmd_t is None else self._cmd_t + self.cmd_timeout_s
        moving_dt = max(0.0, min(t_s, active_until) - s.t_s)
        v, w = self._cmd if moving_dt > 0 else (0.0, 0.0)
        if moving_dt > 0:
            self._integrate(v, w, moving_dt)
        self._drain(v, w, moving_dt, t_s - s.t_s)
        s.linear_x, s.angular_z = (v, w) if t_s < active_until else (0.0, 0.0)
        s.t_s = t_s
        return s

    def _integrate(self, v: float, w: float, dt: float) -> None:
        s = self.state
        yaw0 = s.yaw_unwrapped
        if abs(w) < 1e-9:
            s.x += v * dt * math.cos(yaw0)
            s.y += v * dt * math.sin(yaw0)
        else:  # exact arc for constant (v, w)
            yaw1 = yaw0 + w * dt
            s.x += v / w * (math.sin(yaw1) - math.sin(yaw0))
            s.y -= v / w * (math.cos(yaw1) - math.cos(yaw0))
        s.yaw_unwrapped = yaw0 + w * dt
        s.yaw = wrap_angle(s.yaw_unwrapped)
        s.distance_m += abs(v) * dt

    def _drain(self, v: float, w: float, moving_dt: float, dt: float) -> None:
        joules = self.idle_power_w * dt + (self.power_per_mps_w * abs(v) + self.power_per_rps_w * abs(w)) * moving_dt
        self.state.battery = max(0.0, self.state.battery - joules / (self.battery_capacity_wh * 3600.0))

    def battery_voltage(self) -> float:
        """A 3-cell Li-ion pack: 9.9 V empty to 12.6 V full (linear, which is good enough here)."""
        return 9.9 + 2.7 * self.state.battery

    def scan(self, world: World, beams: int = 360, range_max: float = 8.0) -> tuple[float, float, list[float]]:
        """(angle_min, angle_increment, ranges) in the robot frame, from -pi over one full turn."""
        inc = 2 * math.pi / beams
        s = self.state
        return -math.pi, inc, [world.ray(s.x, s.y, s.yaw - math.pi + i * inc, range_max) for i in range(beams)]


def yaw_to_quaternion(yaw: float) -> tuple[float, float, float, float]:
    """(x, y, z, w) of a rotation about z."""
    return 0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2)


def quaternion_to_yaw(x: float, y: float, z: float, w: float) -> float:
    return math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
