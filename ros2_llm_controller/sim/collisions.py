"""Collision counting for the simulator and the closed-loop evaluation (ROS-free).

A collision is the robot's circular footprint overlapping a round obstacle or a wall of a
``sim.physics.World``. Touching (zero overlap) is not a collision. ``CollisionCounter`` counts contacts,
not ticks: a robot that stays in an obstacle for a second is one collision, not fifty.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .physics import World


@dataclass(frozen=True)
class Contact:
    what: str  # "obstacle" or "wall"
    index: int  # obstacle index in World.obstacles; for walls 0..3 = +x, -x, +y, -y
    depth_m: float  # how far the footprint reaches into it (> 0)


def clearance_m(world: World, x: float, y: float, radius_m: float) -> float:
    """Distance from the footprint's edge to the nearest obstacle or wall (negative: overlapping)."""
    h = world.half_size_m
    best = min(h - x, h + x, h - y, h + y) - radius_m
    for c in world.obstacles:
        best = min(best, math.hypot(x - c.x, y - c.y) - c.radius_m - radius_m)
    return best


def contacts(world: World, x: float, y: float, radius_m: float) -> list[Contact]:
    """Every obstacle and wall a circle of ``radius_m`` at (x, y) overlaps."""
    out = []
    for i, c in enumerate(world.obstacles):
        depth = c.radius_m + radius_m - math.hypot(x - c.x, y - c.y)
        if depth > 0:
            out.append(Contact("obstacle", i, depth))
    h = world.half_size_m
    for i, gap in enumerate((h - x, h + x, h - y, h + y)):
        if radius_m - gap > 0:
            out.append(Contact("wall", i, radius_m - gap))
    return out


@dataclass
class CollisionCounter:
    """Counts new contacts along a trajectory fed pose by pose (sample finely enough not to skip one)."""

    radius_m: float
    count: int = 0
    max_depth_m: float = 0.0
    _touching: frozenset = field(default_factory=frozenset)

    def update(self, world: World, x: float, y: float) -> list[Contact]:
        """Contacts at this pose; each obstacle or wall entered since the last pose adds one."""
        now = contacts(world, x, y, self.radius_m)
        keys = frozenset((c.what, c.index) for c in now)
        self.count += len(keys - self._touching)
        self._touching = keys
        for c in now:
            self.max_depth_m = max(self.max_depth_m, c.depth_m)
        return now
