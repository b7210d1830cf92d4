"""Plain-language answers to sensor queries, from plain numbers (no ROS types).

The node passes the fields of the latest sensor_msgs/BatteryState and sensor_msgs/LaserScan; the
answers follow those messages' conventions: BatteryState.percentage is 0..1 and NaN when unknown,
and LaserScan ranges follow REP 117 (+inf: nothing within range_max, -inf: something closer than
range_min, NaN: invalid). Bearings are in the robot frame (REP 103): 0 deg = ahead, + = left.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from .scan import valid_ranges
from .units import wrap_deg


def _known(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def describe_battery(percentage: float | None, voltage: float | None, charging: bool | None,
                     age_s: float) -> str:
    """One sentence on the battery, e.g. "Battery at 76% (12.10 V), charging (reading 0.4 s old)."."""
    parts = []
    if _known(percentage) and 0.0 <= percentage <= 1.0:
        parts.append(f"Battery at {percentage * 100:.0f}%")
    elif _known(percentage):
        parts.append(f"Battery charge unknown (invalid percentage {percentage:g}, expected 0..1)")
    else:
        parts.append("Battery charge unknown")
    if _known(voltage) and voltage > 0:
        parts[0] += f" ({voltage:.2f} V)"
    if charging is not None:
        parts.append("charging" if charging else "not charging")
    return f"{', '.join(parts)} (reading {max(age_s, 0.0):.1f} s old)."


@dataclass(frozen=True)
class Obstacle:
    distance_m: float  # nearest return of the cluster
    bearing_deg: float  # bearing of that return, 0 = ahead, + = left, in (-180, 180]
    width_deg: float  # angular extent of the cluster
    returns: int


def find_obstacles(ranges: Sequence[float], angle_min: float, angle_increment: float, range_min: float,
                   range_max: float, obstacle_range_m: float) -> list[Obstacle]:
    """Clusters of consecutive returns closer than ``obstacle_range_m``, nearest first.

    A -inf return (REP 117: too close to measure) counts as an obstacle at ``range_min``. In a full
    360 deg scan a cluster crossing the seam between the last and the first ray is one obstacle.
    """
    n = len(ranges)
    hits = [float(r) if r < obstacle_range_m else None  # NaN compares false: no return
            for r in valid_ranges(ranges, range_min, range_max)]
    clusters: list[list[int]] = []
    for i, h in enumerate(hits):
        if h is None:
            continue
        if clusters and clusters[-1][-1] == i - 1:
            clusters[-1].append(i)
        else:
            clusters.append([i])
    full_circle = n > 1 and abs(angle_increment) * n >= 2 * math.pi - abs(angle_increment) * 1.5
    if full_circle and len(clusters) > 1 and clusters[0][0] == 0 and clusters[-1][-1] == n - 1:
        clusters[0] = clusters.pop() + clusters[0]
    out = []
    for c in clusters:
        nearest = min(c, key=lambda i: hits[i])
        out.append(Obstacle(distance_m=hits[nearest],
                            bearing_deg=wrap_deg(math.degrees(angle_min + nearest * angle_increment)),
                            width_deg=abs(math.degrees(angle_increment)) * len(c), returns=len(c)))
    return sorted(out, key=lambda o: o.distance_m)


def _bearing_text(bearing_deg: float) -> str:
    if abs(bearing_deg) < 0.5:
        return "0 deg (ahead)"
    side = "left" if bearing_deg > 0 else "right"
    if abs(bearing_deg) > 179.5:
        side = "behind"
    return f"{bearing_deg:+.0f} deg ({side})"


def describe_obstacles(ranges: Sequence[float], angle_min: float, angle_increment: float, range_min: float,
                       range_max: float, obstacle_range_m: float) -> str:
    """One sentence on the obstacles within ``obstacle_range_m`` of the scanner."""
    if not ranges:
        return "The laser scan is empty."
    obstacles = find_obstacles(ranges, angle_min, angle_increment, range_min, range_max, obstacle_range_m)
    if obstacles:
        near = obstacles[0]
        noun = "obstacle" if len(obstacles) == 1 else "obstacles"
        return (f"{len(obstacles)} {noun} within {obstacle_range_m:g} m; nearest {near.distance_m:.2f} m "
                f"at {_bearing_text(near.bearing_deg)}.")
    valid = [(float(r), i) for i, r in enumerate(valid_ranges(ranges, range_min, range_max)) if not math.isnan(r)]
    if not valid:
        return f"No obstacles within {obstacle_range_m:g} m (no valid returns in the scan)."
    r, i = min(valid)
    bearing = wrap_deg(math.degrees(angle_min + i * angle_increment))
    return f"No obstacles within {obstacle_range_m:g} m; nearest return {r:.2f} m at {_bearing_text(bearing)}."


def describe_state(state: str, linear_x: float = 0.0, angular_z: float = 0.0, remaining_s: float = 0.0,
                   motion_command: str | None = None) -> str:
    """Answer to "query status": the controller's state and, while moving, the current motion."""
    text = f"Controller {state}"
    if remaining_s > 0:
        text += (f": linear.x={linear_x:.2f} m/s, angular.z={angular_z:.2f} rad/s, "
                 f"{remaining_s:.1f} s left")
    if motion_command:
        shown = motion_command if len(motion_command) <= 80 else motion_command[:77] + "..."
        text += f" (command {shown!r})"
    return text + "."


def describe_position(x: float, y: float, yaw_rad: float, nearest: tuple[str, float] | None = None,
                      age_s: float | None = None) -> str:
    """Answer to "query position" from odometry: "I am at x=1.20 m, y=-0.50 m, heading 90°; nearest
    place: kitchen, 1.2 m." (heading: REP 103, 0 along +x, counter-clockwise positive)."""
    text = f"I am at x={x:.2f} m, y={y:.2f} m, heading {wrap_deg(math.degrees(yaw_rad)):.0f}°"
    if nearest is not None:
        text += f"; nearest place: {nearest[0]}, {nearest[1]:.1f} m"
    if age_s is not None and age_s > 1.0:
        text += f" (odometry {age_s:.1f} s old)"
    return text + "."
