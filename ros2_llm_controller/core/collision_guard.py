"""A collision guard below the model: the approach model of nav2_collision_monitor (ROS-free, numpy).

Every control tick, before a twist reaches /cmd_vel, the guard simulates that twist forward for
``time_before_collision_s`` (exact unicycle arcs, samples every ``simulation_step_s``) against the
points of the latest laser scan, and returns the largest scale in [0, 1] of (linear.x, angular.z)
for which no scan point enters the footprint inflated by ``stop_margin_m``. Scaling both velocities
by one factor keeps the path and shortens it: at scale s the robot covers, within the horizon, the
first s * horizon seconds of the unscaled path. So s = (time of the last safe sample) / horizon.

Guarantees (the property tests check them):
- the output never exceeds the input in magnitude and never flips its sign (0 <= scale <= 1);
- a zero input stays zero;
- a point outside the inflated footprint now stays outside it for the whole horizon, between
  samples too: each sample is checked against the margin plus the farthest any footprint point can
  move in half a step (``(|v| + |w| * r_max) * step / 2``);
- a point already inside the inflated footprint (the robot stopped near it, or it appeared there)
  blocks only a motion that brings it closer at a sample: the robot can back away or turn away.
  Between samples such a point may come closer by at most that half-step allowance (for a circle,
  |v| * step / 2: 1.25 cm at 0.5 m/s and the default 0.05 s step), which the margin absorbs;
- the stop is a real one: the scale keeps to the last sample before contact, so once the first
  step would reach the margin the scale is 0 (a ratio of the time to contact stays above 0 up to contact);
- a circular footprint centred on base_link turning in place sweeps nothing, so it always may;
  a polygon's corners sweep an annulus, and that is checked.

Scan conventions (REP 117): a finite range outside [range_min, range_max] is invalid and ignored;
NaN is no measurement and ignored; +inf means nothing within range_max and is ignored; -inf means an
object closer than range_min, and is taken as an object at range_min on that beam (the nearest
place the sensor could have seen it). The scan is assumed in base_link unless ``laser_pose`` says
where the laser sits; ``motion_since_scan`` moves old points into the current base_link frame.

Differences from Nav2's approach polygon: Nav2 scales by (time to first collision) / horizon and
checks only at the samples; here the sample check is inflated so nothing slips between samples,
points already too close do not freeze the robot, and the horizon may be cut to the motion's
remaining time (``remaining_s``) so that a short motion that stops short of an obstacle is not
slowed for what lies beyond its end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Sequence

import numpy as np

from .scan import valid_ranges

from .units import wrap_deg

STALE_POLICIES = ("refuse", "allow")
_CLOSER_TOL_M = 1e-9  # "closer" for a point already inside the margin: ignore float noise below this


class GuardReason(str, Enum):
    CLEAR = "clear"  # twist unchanged
    SLOWED = "slowed"  # scaled down, 0 < scale < 1
    STOPPED = "stopped"  # scale 0: the first simulated step already reaches an obstacle
    STALE_SCAN = "stale_scan"  # scan older than scan_timeout_s (refused or allowed by policy)
    NO_SCAN = "no_scan"  # no scan yet, or an empty one (refused or allowed by policy)
    INVALID_TWIST = "invalid_twist"  # non-finite input: zero out


@dataclass(frozen=True)
class ScanData:
    """The fields of a sensor_msgs/LaserScan the guard needs, plus its age on the caller's clock."""

    ranges: Sequence[float] | np.ndarray
    angle_min: float
    angle_increment: float
    range_min: float
    range_max: float
    age_s: float = 0.0


@dataclass(frozen=True)
class Footprint:
    """A circle of ``radius_m`` centred on base_link, or a polygon of (x, y) vertices in base_link."""

    radius_m: float | None = None
    polygon: tuple[tuple[float, float], ...] | None = None

    def __post_init__(self):
        if (self.radius_m is None) == (self.polygon is None):
            raise ValueError("give either radius_m or polygon")
        if self.radius_m is not None and not (math.isfinite(self.radius_m) and self.radius_m > 0):
            raise ValueError(f"radius_m must be positive and finite, got {self.radius_m!r}")
        if self.polygon is not None:
            pts = tuple((float(x), float(y)) for x, y in self.polygon)
            if len(pts) < 3 or not all(math.isfinite(v) for p in pts for v in p):
                raise ValueError("a polygon needs at least 3 finite (x, y) vertices")
            object.__setattr__(self, "polygon", pts)
            a = np.asarray(pts)
            area2 = float(np.sum(a[:, 0] * np.roll(a[:, 1], -1) - np.roll(a[:, 0], -1) * a[:, 1]))
            if abs(area2) < 1e-12:
                raise ValueError("the polygon has no area")

    @classmethod
    def circle(cls, radius_m: float) -> "Footprint":
        return cls(radius_m=float(radius_m))

    @classmethod
    def from_polygon(cls, points: Sequence[Sequence[float]]) -> "Footprint":
        return cls(polygon=tuple((float(p[0]), float(p[1])) for p in points))

    @property
    def max_radius_m(self) -> float:
        """Distance from base_link to the farthest footprint point."""
        if self.radius_m is not None:
            return self.radius_m
        return max(math.hypot(x, y) for x, y in self.polygon)

    def signed_distance(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Distance of points (base_link) from the footprint's edge: negative inside."""
        if self.radius_m is not None:
            return np.hypot(x, y) - self.radius_m
        return _polygon_signed_distance(np.asarray(self.polygon), x, y)


@dataclass(frozen=True)
class GuardParams:
    time_before_collision_s: float = 1.0
    simulation_step_s: float = 0.05
    stop_margin_m: float = 0.05
    scan_timeout_s: float = 0.5
    stale_scan_policy: str = "refuse"  # what to do without a fresh scan: refuse (zero) or allow (unchanged)

    def __post_init__(self):
        for name in ("time_before_collision_s", "simulation_step_s", "scan_timeout_s"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a positive finite number, got {v!r}")
        if not (math.isfinite(self.stop_margin_m) and self.stop_margin_m >= 0):
            raise ValueError(f"stop_margin_m must be finite and >= 0, got {self.stop_margin_m!r}")
        if self.simulation_step_s > self.time_before_collision_s:
            raise ValueError("simulation_step_s must not exceed time_before_collision_s")
        if self.stale_scan_policy not in STALE_POLICIES:
            raise ValueError(f"stale_scan_policy must be one of {STALE_POLICIES}, got {self.stale_scan_policy!r}")


@dataclass(frozen=True)
class GuardResult:
    reason: GuardReason
    linear_x: float  # the twist to publish
    angular_z: float
    scale: float  # output / input, in [0, 1]
    # The point that limits the motion (SLOWED, STOPPED): where it is now, from base_link.
    obstacle_distance_m: float | None = None
    obstacle_bearing_deg: float | None = None  # 0 = ahead, + = left (REP 103), in (-180, 180]
    obstacle_clearance_m: float | None = None  # from the footprint's edge (negative: inside it)
    time_to_contact_s: float | None = None  # at the input twist, when it would first pass the margin

    @property
    def limited(self) -> bool:
        return self.scale < 1.0

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["reason"] = self.reason.value
        return d


class CollisionGuard:
    """Holds the footprint, parameters and a cache of beam directions; ``check`` runs once per tick."""

    def __init__(self, footprint: Footprint, params: GuardParams | None = None,
                 laser_pose: tuple[float, float, float] = (0.0, 0.0, 0.0)):
        self.footprint = footprint
        self.params = params or GuardParams()
        if not all(math.isfinite(v) for v in laser_pose):
            raise ValueError("laser_pose must be finite (x_m, y_m, yaw_rad)")
        self.laser_pose = tuple(float(v) for v in laser_pose)
        self._trig_key: tuple | None = None
        self._cos = self._sin = np.zeros(0)

    def scan_points(self, scan: ScanData,
                    motion_since_scan: tuple[float, float, float] | None = None) -> np.ndarray:
        """Valid returns as an (M, 2) array of (x, y) in the current base_link frame (REP 117, see module doc)."""
        r = np.asarray(scan.ranges, dtype=float)
        n = r.shape[0]
        key = (n, float(scan.angle_min), float(scan.angle_increment), self.laser_pose[2])
        if key != self._trig_key:  # beam directions change only with the scanner's configuration
            a = scan.angle_min + scan.angle_increment * np.arange(n) + self.laser_pose[2]
            self._cos, self._sin, self._trig_key = np.cos(a), np.sin(a), key
        r = valid_ranges(r, scan.range_min, scan.range_max)
        ok = ~np.isnan(r)
        r = r[ok]
        x = self.laser_pose[0] + r * self._cos[ok]
        y = self.laser_pose[1] + r * self._sin[ok]
        if motion_since_scan is not None:  # the robot moved (dx, dy, dyaw) in the scan-time frame since then
            dx, dy, dyaw = motion_since_scan
            c, s = math.cos(dyaw), math.sin(dyaw)
            x, y = x - dx, y - dy
            x, y = c * x + s * y, -s * x + c * y
        return np.stack((x, y), axis=1)

    def check(self, linear_x: float, angular_z: float, scan: ScanData | None,
              remaining_s: float | None = None,
              motion_since_scan: tuple[float, float, float] | None = None) -> GuardResult:
        """The twist to publish instead of (``linear_x``, ``angular_z``).

        ``remaining_s``: time left in the current motion; the horizon is cut to it (None: the full
        ``time_before_collision_s``, as Nav2 does). ``motion_since_scan``: pose of base_link now in
        the base_link frame at the scan's time (from odometry or the published twists), or None.
        """
        p = self.params
        v, w = float(linear_x), float(angular_z)
        if not (math.isfinite(v) and math.isfinite(w)):
            return GuardResult(GuardReason.INVALID_TWIST, 0.0, 0.0, 0.0)
        if v == 0.0 and w == 0.0:
            return GuardResult(GuardReason.CLEAR, 0.0, 0.0, 1.0)
        if scan is None or len(scan.ranges) == 0:
            return self._no_data(GuardReason.NO_SCAN, v, w)
        if not (math.isfinite(scan.age_s) and scan.age_s <= p.scan_timeout_s):
            return self._no_data(GuardReason.STALE_SCAN, v, w)
        horizon = p.time_before_collision_s
        if remaining_s is not None and math.isfinite(remaining_s):
            horizon = min(horizon, max(remaining_s, p.simulation_step_s))
        pts = self.scan_points(scan, motion_since_scan)
        return self._approach(v, w, pts, horizon)

    def _no_data(self, reason: GuardReason, v: float, w: float) -> GuardResult:
        if self.params.stale_scan_policy == "allow":
            return GuardResult(reason, v, w, 1.0)
        return GuardResult(reason, 0.0, 0.0, 0.0)

    def _approach(self, v: float, w: float, pts: np.ndarray, horizon: float) -> GuardResult:
        p, fp = self.params, self.footprint
        # At most 1 rad per step, so that the bound below stays finite.
        n = max(1, math.ceil(horizon / p.simulation_step_s - 1e-9), math.ceil(abs(w) * horizon))
        dt = horizon / n
        # How far a clearance can fall between samples (every instant is within dt/2 of one): the
        # fastest relative speed of a point near the inflated footprint, times dt/2. A centred
        # circle's clearance changes only with translation; a polygon's also with rotation, at
        # |w| * (distance of the point), which is at most r_max + margin + slip near the footprint.
        if fp.radius_m is not None:
            slip_m = abs(v) * dt / 2
        else:
            half = dt / 2
            slip_m = (abs(v) + abs(w) * (fp.max_radius_m + p.stop_margin_m)) * half / (1.0 - abs(w) * half)
        limit_m = p.stop_margin_m + slip_m
        if pts.shape[0]:
            # Only points the inflated footprint can reach within the horizon matter.
            reach = fp.max_radius_m + limit_m + abs(v) * horizon
            pts = pts[np.einsum("ij,ij->i", pts, pts) <= reach * reach]
            # ... and that lie in the band the footprint sweeps: within r_max + limit of the line
            # (or circle) base_link runs along. Cheap per point; spares the per-sample work below.
            band = fp.max_radius_m + limit_m
            if abs(w) * horizon < 1e-6:  # straight, give or take the sagitta of so slight a turn
                pts = pts[np.abs(pts[:, 1]) <= band + abs(v) * horizon * abs(w) * horizon]
            else:
                rho = v / w  # signed turning radius; the centre of the turn is (0, rho)
                pts = pts[np.abs(np.hypot(pts[:, 0], pts[:, 1] - rho) - abs(rho)) <= band]
        if pts.shape[0] == 0:
            return GuardResult(GuardReason.CLEAR, v, w, 1.0)
        t = dt * np.arange(n + 1)
        th = w * t
        if abs(w) < 1e-9:
            cx, cy = v * t, np.zeros_like(t)
        else:  # exact arc for constant (v, w), as sim.physics integrates it
            cx, cy = v / w * np.sin(th), v / w * (1.0 - np.cos(th))
        px, py = pts[:, 0:1], pts[:, 1:2]  # (M, 1) against (n + 1,) samples
        if fp.radius_m is not None:  # a centred circle: rotation does not matter
            d = np.hypot(px - cx, py - cy) - fp.radius_m
        else:
            # Exact distances only where the inflated polygon can be, within r_max + limit of
            # base_link (a rotation keeps that distance); elsewhere +inf stands for "beyond the limit".
            rx, ry = px - cx, py - cy
            near = rx * rx + ry * ry <= (fp.max_radius_m + limit_m) ** 2
            keep = near.any(axis=1)
            if not keep.any():
                return GuardResult(GuardReason.CLEAR, v, w, 1.0)
            pts, rx, ry, near = pts[keep], rx[keep], ry[keep], near[keep]
            rows, cols = np.nonzero(near)
            c, s = np.cos(th[cols]), np.sin(th[cols])
            x, y = rx[rows, cols], ry[rows, cols]
            d = np.full(near.shape, np.inf)
            d[rows, cols] = fp.signed_distance(c * x + s * y, -s * x + c * y)
        d0 = d[:, 0:1]
        inside = d0 <= limit_m  # already too close: may not come closer, may leave
        blocked = np.where(inside, d[:, 1:] < d0 - _CLOSER_TOL_M, d[:, 1:] <= limit_m)
        hit = blocked.any(axis=0)
        if not hit.any():
            return GuardResult(GuardReason.CLEAR, v, w, 1.0)
        k = int(np.argmax(hit)) + 1  # first sample that reaches an obstacle
        scale = min(1.0, max(0.0, (k - 1) * dt / horizon))  # keep to the samples before it
        i = int(np.argmin(np.where(blocked[:, k - 1], d0[:, 0], np.inf)))  # nearest of the blocking points
        x, y = float(pts[i, 0]), float(pts[i, 1])
        reason = GuardReason.STOPPED if scale == 0.0 else GuardReason.SLOWED
        return GuardResult(reason, v * scale, w * scale, scale, obstacle_distance_m=math.hypot(x, y),
                           obstacle_bearing_deg=wrap_deg(math.degrees(math.atan2(y, x))),
                           obstacle_clearance_m=float(d0[i, 0]), time_to_contact_s=k * dt)


def guard_twist(linear_x: float, angular_z: float, scan: ScanData | None, footprint: Footprint,
                params: GuardParams | None = None, remaining_s: float | None = None,
                motion_since_scan: tuple[float, float, float] | None = None) -> GuardResult:
    """One-shot form of ``CollisionGuard(footprint, params).check(...)``."""
    return CollisionGuard(footprint, params).check(linear_x, angular_z, scan, remaining_s, motion_since_scan)


def _polygon_signed_distance(poly: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Signed distance of points (any shape) from a simple polygon's edges: negative inside."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    dist2 = np.full(np.broadcast(x, y).shape, np.inf)
    inside = np.zeros(dist2.shape, dtype=bool)
    for (ax, ay), (bx, by) in zip(poly, np.roll(poly, -1, axis=0)):
        ex, ey = bx - ax, by - ay
        qx, qy = x - ax, y - ay
        u = np.clip((qx * ex + qy * ey) / (ex * ex + ey * ey), 0.0, 1.0)
        dx, dy = qx - u * ex, qy - u * ey
        np.minimum(dist2, dx * dx + dy * dy, out=dist2)
        if ay != by:  # even-odd rule: a horizontal ray to +x crosses this edge
            crosses = ((ay > y) != (by > y)) & (x < ax + ex * (y - ay) / (by - ay))
            inside ^= crosses
    dist = np.sqrt(dist2)
    return np.where(inside, -dist, dist)
