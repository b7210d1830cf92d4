"""Safety limits applied to every action before it can reach /cmd_vel."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .actions import Action, reject

POLICIES = ("clamp", "reject")


@dataclass(frozen=True)
class SafetyLimits:
    max_linear_mps: float = 1.0
    max_angular_rps: float = 1.5
    max_duration_s: float = 30.0
    policy: str = "clamp"  # clamp: scale down to the limits; reject: refuse the whole action

    def __post_init__(self):
        for name in ("max_linear_mps", "max_angular_rps", "max_duration_s"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a positive finite number, got {v!r}")
        if self.policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, got {self.policy!r}")


@dataclass(frozen=True)
class LimitResult:
    action: Action
    limited: bool  # the action was changed (clamped) or refused (rejected) by a limit
    reason: str | None = None


def apply_limits(action: Action, limits: SafetyLimits) -> LimitResult:
    """Return an action that respects ``limits``.

    Clamping scales both velocities by one factor, so an arc keeps its shape, and stretches the
    duration so that the requested distance and angle are still covered; only when that would pass
    ``max_duration_s`` is the motion cut short. Non-finite values are always rejected.
    """
    if action.type != "move":
        return LimitResult(action, False)
    if not action.is_finite():
        return LimitResult(reject("non-finite velocity or duration"), True, "non-finite value")
    lin, ang, dur = action.linear_x, action.angular_z, action.duration_s
    if dur <= 0 or (lin == 0 and ang == 0):
        return LimitResult(Action("stop"), dur != 0 or lin != 0 or ang != 0, "empty motion")
    over = []
    if abs(lin) > limits.max_linear_mps:
        over.append(f"|linear.x|={abs(lin):.3g} m/s > {limits.max_linear_mps:g}")
    if abs(ang) > limits.max_angular_rps:
        over.append(f"|angular.z|={abs(ang):.3g} rad/s > {limits.max_angular_rps:g}")
    scale = min(1.0, limits.max_linear_mps / abs(lin) if lin else 1.0,
                limits.max_angular_rps / abs(ang) if ang else 1.0)
    new_dur = dur / scale
    if new_dur > limits.max_duration_s:
        over.append(f"duration={new_dur:.3g} s > {limits.max_duration_s:g}")
    if not over:
        return LimitResult(action, False)
    reason = "; ".join(over)
    if limits.policy == "reject":
        return LimitResult(reject(f"over safety limits: {reason}"), True, reason)
    clamped = action.with_(linear_x=lin * scale, angular_z=ang * scale,
                           duration_s=min(new_dur, limits.max_duration_s))
    return LimitResult(clamped, True, reason)
