"""The ``odom`` navigation backend: drive to a pose on odometry alone (ROS-free).

A three-phase go-to-pose controller for a differential-drive robot, run once per control tick:

1. TURN: turn in place toward the goal while the heading error exceeds ``turn_in_place_rad``
   (until it falls below ``yaw_tolerance_rad``, so the robot does not chatter between phases);
2. DRIVE: drive toward the goal, speed proportional to the distance left (``linear_gain``,
   between ``min_linear_mps`` and ``max_linear_mps``) and scaled by cos(heading error), steering
   with ``heading_gain``; it aims at half the xy tolerance, so the end pose is well inside it;
3. ALIGN: turn in place to the goal's heading, again aiming at half of ``yaw_tolerance_rad``.

It fails (and the caller publishes zero) when a scan point lies in the corridor of the robot's
width ahead within ``stop_distance_m`` while driving ("obstacle on the path at 0.42 m"), when no
odometry arrives for ``odom_timeout_s``, or after ``timeout_s``. The pose is (x, y, yaw) in the
goal's frame (``odom``); scan points are (x, y) in base_link: an (N, 2) array, or a
``collision_guard.ScanData`` (read with the guard's REP 117 rules).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .collision_guard import CollisionGuard, Footprint, ScanData
from .places import Place
from .units import wrap_angle

FRAME_ID = "odom"
Pose = tuple[float, float, float]  # x, y, yaw (rad)


@dataclass(frozen=True)
class NavParams:
    """Tolerances, speeds and gains of the odom go-to-pose controller (validated)."""

    xy_tolerance_m: float = 0.1
    yaw_tolerance_rad: float = 0.1
    max_linear_mps: float = 0.5
    max_angular_rps: float = 1.0
    min_linear_mps: float = 0.05  # no endless crawl near the goal
    min_angular_rps: float = 0.1
    linear_gain: float = 1.0  # 1/s: speed = gain * distance left, within the limits
    heading_gain: float = 2.0  # 1/s: turn rate = gain * heading error, within the limits
    turn_in_place_rad: float = 0.5  # heading errors above this stop the drive and turn in place
    timeout_s: float = 120.0
    odom_timeout_s: float = 1.0  # no pose for this long: fail
    stop_distance_m: float = 0.5  # obstacle corridor length ahead of base_link
    robot_width_m: float = 0.4  # obstacle corridor width

    def __post_init__(self):
        positive = ("xy_tolerance_m", "yaw_tolerance_rad", "max_linear_mps", "max_angular_rps", "linear_gain",
                    "heading_gain", "turn_in_place_rad", "timeout_s", "odom_timeout_s", "robot_width_m")
        for name in positive + ("min_linear_mps", "min_angular_rps", "stop_distance_m"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"{name} must be a finite number, got {v!r}")
            if v < 0 or (name in positive and v == 0):
                raise ValueError(f"{name} must be {'positive' if name in positive else '>= 0'}, got {v!r}")
        if self.min_linear_mps > self.max_linear_mps:
            raise ValueError("min_linear_mps must not exceed max_linear_mps")
        if self.min_angular_rps > self.max_angular_rps:
            raise ValueError("min_angular_rps must not exceed max_angular_rps")
        if not self.yaw_tolerance_rad < self.turn_in_place_rad <= math.pi:
            raise ValueError("turn_in_place_rad must lie in (yaw_tolerance_rad, pi]")


class NavStatus(str, enum.Enum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class NavPhase(str, enum.Enum):
    TURN = "turn"
    DRIVE = "drive"
    ALIGN = "align"
    DONE = "done"


@dataclass(frozen=True)
class NavCommand:
    """What one control tick of the controller decided."""

    linear_x: float
    angular_z: float
    status: NavStatus
    phase: NavPhase
    distance_remaining_m: float | None = None  # None before the first pose
    yaw_error_rad: float | None = None  # to the goal's heading
    reason: str | None = None  # FAILED: why

    @property
    def twist(self) -> tuple[float, float]:
        return (self.linear_x, self.angular_z)


def _sat(value: float, lo: float, hi: float) -> float:
    """``value`` with its magnitude clamped to [lo, hi], sign kept (0 stays 0)."""
    if value == 0:
        return 0.0
    return math.copysign(min(max(abs(value), lo), hi), value)


def points_ahead(points: np.ndarray, length_m: float, width_m: float) -> np.ndarray:
    """The points (N, 2) in the corridor ahead of base_link: 0 <= x <= ``length_m``, |y| <= width / 2."""
    if points.size == 0 or length_m <= 0:
        return points.reshape(0, 2)
    x, y = points[:, 0], points[:, 1]
    return points[(x >= 0.0) & (x <= length_m) & (np.abs(y) <= width_m / 2)]


class GoToPose:
    """Drive to one goal pose. ``update`` once per control tick; a finished controller stays finished."""

    def __init__(self, goal: Pose, params: NavParams | None = None, frame_id: str = FRAME_ID):
        if len(goal) != 3 or not all(math.isfinite(v) for v in goal):
            raise ValueError(f"goal must be a finite (x, y, yaw), got {goal!r}")
        self.goal = (float(goal[0]), float(goal[1]), wrap_angle(float(goal[2])))
        self.params = params or NavParams()
        self.frame_id = frame_id
        self.phase = NavPhase.TURN
        self._t0: float | None = None
        self._last_pose_t: float | None = None
        self._final: NavCommand | None = None
        self._scan_reader: CollisionGuard | None = None

    @classmethod
    def to_place(cls, place: Place, params: NavParams | None = None) -> "GoToPose":
        return cls((place.x, place.y, place.yaw_rad), params, place.frame_id)

    @property
    def finished(self) -> bool:
        return self._final is not None

    def _points(self, scan: np.ndarray | ScanData | None) -> np.ndarray:
        if scan is None:
            return np.zeros((0, 2))
        if isinstance(scan, ScanData):
            if self._scan_reader is None:  # only its REP 117 point reader is used; it caches beam directions
                self._scan_reader = CollisionGuard(Footprint.circle(self.params.robot_width_m / 2))
            return self._scan_reader.scan_points(scan)
        pts = np.asarray(scan, dtype=float)
        if pts.ndim != 2 or pts.shape[1] != 2:
            raise ValueError(f"scan points must be an (N, 2) array, got shape {pts.shape}")
        return pts[np.isfinite(pts).all(axis=1)]

    def _end(self, status: NavStatus, dist: float | None, yaw_err: float | None, reason: str | None) -> NavCommand:
        self.phase = NavPhase.DONE
        self._final = NavCommand(0.0, 0.0, status, NavPhase.DONE, dist, yaw_err, reason)
        return self._final

    def cancel(self) -> NavCommand:
        """End now: zero, FAILED("cancelled") unless it already finished."""
        return self._final or self._end(NavStatus.FAILED, None, None, "cancelled")

    def update(self, now_s: float, pose: Pose | Sequence[float] | None,
               scan: np.ndarray | ScanData | None = None) -> NavCommand:
        """The twist for this tick given the latest pose (None: none yet) and scan points in base_link."""
        if self._final is not None:
            return self._final
        p = self.params
        if self._t0 is None:
            self._t0 = self._last_pose_t = now_s
        if pose is None:
            if now_s - self._last_pose_t > p.odom_timeout_s:
                return self._end(NavStatus.FAILED, None, None, f"no odometry for {now_s - self._last_pose_t:.1f} s")
            return NavCommand(0.0, 0.0, NavStatus.RUNNING, self.phase)
        self._last_pose_t = now_s
        x, y, yaw = (float(v) for v in pose)
        gx, gy, gyaw = self.goal
        dist = math.hypot(gx - x, gy - y)
        heading_err = wrap_angle(math.atan2(gy - y, gx - x) - yaw)
        yaw_err = wrap_angle(gyaw - yaw)
        if now_s - self._t0 > p.timeout_s:
            return self._end(NavStatus.FAILED, dist, yaw_err,
                             f"timed out after {p.timeout_s:g} s, {dist:.2f} m from the goal")

        if self.phase in (NavPhase.TURN, NavPhase.DRIVE):
            # Aim at half the tolerance; accept the tolerance once the goal is behind (passed it).
            if dist <= p.xy_tolerance_m / 2 or (dist <= p.xy_tolerance_m and abs(heading_err) > math.pi / 2):
                self.phase = NavPhase.ALIGN
            elif self.phase is NavPhase.TURN and abs(heading_err) <= p.yaw_tolerance_rad:
                self.phase = NavPhase.DRIVE
            elif self.phase is NavPhase.DRIVE and abs(heading_err) > p.turn_in_place_rad:
                self.phase = NavPhase.TURN

        if self.phase is NavPhase.TURN:
            w = _sat(p.heading_gain * heading_err, p.min_angular_rps, p.max_angular_rps)
            return NavCommand(0.0, w, NavStatus.RUNNING, self.phase, dist, yaw_err)
        if self.phase is NavPhase.DRIVE:
            # Only what lies between here and the goal (plus half the robot) can block the path.
            length = min(p.stop_distance_m, dist + p.robot_width_m / 2)
            ahead = points_ahead(self._points(scan), length, p.robot_width_m)
            if ahead.shape[0]:
                nearest = float(np.min(np.hypot(ahead[:, 0], ahead[:, 1])))
                return self._end(NavStatus.FAILED, dist, yaw_err, f"obstacle on the path at {nearest:.2f} m")
            v = min(max(p.linear_gain * dist, p.min_linear_mps), p.max_linear_mps) * max(0.0, math.cos(heading_err))
            w = max(-p.max_angular_rps, min(p.max_angular_rps, p.heading_gain * heading_err))
            return NavCommand(v, w, NavStatus.RUNNING, self.phase, dist, yaw_err)
        # ALIGN: like the drive, aim at half the tolerance
        if abs(yaw_err) <= p.yaw_tolerance_rad / 2:
            return self._end(NavStatus.SUCCEEDED, dist, yaw_err, None)
        w = _sat(p.heading_gain * yaw_err, p.min_angular_rps, p.max_angular_rps)
        return NavCommand(0.0, w, NavStatus.RUNNING, self.phase, dist, yaw_err)
