"""The action a command resolves to: the one data type every half of the package exchanges."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

ACTION_TYPES = ("move", "wait", "goto", "stop", "reply", "reject")
QUERIES = ("battery", "obstacles", "status", "position")


class ParseError(ValueError):
    """Model text that is not a valid action. The robot must not move on it."""

    def __init__(self, message: str, text: str = ""):
        super().__init__(message)
        self.text = text


@dataclass(frozen=True)
class Action:
    """A velocity command held for ``duration_s`` ("move"), a pause ("wait"), a trip to a named place
    ("goto"), a stop, a reply without motion, or a rejection. A plan is a tuple of them.

    ``distance_m`` / ``angle_rad`` keep what the command asked for (signed), so a speed clamp can
    stretch the duration and still cover the requested distance.
    """

    type: str
    linear_x: float = 0.0  # m/s, +forward
    angular_z: float = 0.0  # rad/s, +counter-clockwise (REP 103)
    duration_s: float = 0.0
    reply: str | None = None
    query: str | None = None  # sensor question the node answers from live data
    distance_m: float | None = None
    angle_rad: float | None = None
    place: str | None = None  # "goto": the place's words as the model wrote them, or its resolved name

    def __post_init__(self):
        if self.type not in ACTION_TYPES:
            raise ValueError(f"unknown action type {self.type!r}")
        if self.query is not None and self.query not in QUERIES:
            raise ValueError(f"unknown query {self.query!r}")

    @property
    def moves(self) -> bool:
        """A velocity stream that is not zero (goto moves too, but through the navigation backend)."""
        return self.type == "move" and self.duration_s > 0 and (self.linear_x != 0 or self.angular_z != 0)

    def reversed(self) -> "Action":
        """The step that undoes this one: the same path driven backwards (a goto has none here)."""
        if self.type != "move":
            return self
        neg = (lambda v: None if v is None else -v)
        return self.with_(linear_x=-self.linear_x, angular_z=-self.angular_z, distance_m=neg(self.distance_m),
                          angle_rad=neg(self.angle_rad))

    def with_(self, **changes) -> "Action":
        return replace(self, **changes)

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("linear_x", "angular_z", "duration_s"):
            d[k] = float(d[k])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Action":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})

    def is_finite(self) -> bool:
        vals = [self.linear_x, self.angular_z, self.duration_s]
        vals += [v for v in (self.distance_m, self.angle_rad) if v is not None]
        return all(math.isfinite(v) for v in vals)


STOP = Action("stop")


def reject(reason: str) -> Action:
    return Action("reject", reply=reason)
