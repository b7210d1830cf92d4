"""An action as a timed velocity stream.

diff_drive_controller drops a command after its 0.5 s ``cmd_vel_timeout``, so a single publish is
not a motion: the node republishes the velocity at ``rate_hz`` for ``duration_s`` and then zero.
Time is measured from the plan's start on a monotonic clock supplied by the caller, so timer jitter
shortens or lengthens no motion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .actions import Action

ZERO = (0.0, 0.0)


@dataclass(frozen=True)
class MotionPlan:
    linear_x: float
    angular_z: float
    duration_s: float
    rate_hz: float = 20.0

    def __post_init__(self):
        if not (self.rate_hz > 0 and math.isfinite(self.rate_hz)):
            raise ValueError("rate_hz must be positive")
        if not (self.duration_s >= 0 and math.isfinite(self.duration_s)):
            raise ValueError("duration_s must be a finite, non-negative number")

    @classmethod
    def from_action(cls, action: Action, rate_hz: float = 20.0) -> "MotionPlan":
        if not action.moves:
            return cls(0.0, 0.0, 0.0, rate_hz)
        return cls(action.linear_x, action.angular_z, action.duration_s, rate_hz)

    @property
    def period_s(self) -> float:
        return 1.0 / self.rate_hz

    def velocity_at(self, elapsed_s: float) -> tuple[float, float]:
        """(linear.x, angular.z) to publish ``elapsed_s`` after the start; zero once done."""
        if 0.0 <= elapsed_s < self.duration_s:
            return (self.linear_x, self.angular_z)
        return ZERO

    def next_period_s(self, elapsed_s: float, min_s: float = 0.001) -> float:
        """Time from a publish at ``elapsed_s`` to the next one: a full period, or less so the zero goes out
        at the plan's end and not up to one period later. The first period too: a motion shorter than one
        period ("move forward 1 mm") would otherwise run a whole period (26 mm at 20 Hz, 100 mm at 5 Hz)."""
        return max(min(self.period_s, self.duration_s - elapsed_s), min_s)

    def with_duration(self, duration_s: float) -> "MotionPlan":
        return MotionPlan(self.linear_x, self.angular_z, duration_s, self.rate_hz)

    def done(self, elapsed_s: float) -> bool:
        return elapsed_s >= self.duration_s

    def samples(self) -> list[tuple[float, float, float]]:
        """(t, linear.x, angular.z) at each tick, ending with one zero at the plan's end: what the node publishes."""
        n = math.ceil(self.duration_s * self.rate_hz - 1e-9)
        out = [(i * self.period_s, *self.velocity_at(i * self.period_s)) for i in range(n)]
        out.append((self.duration_s, *ZERO))
        return out
