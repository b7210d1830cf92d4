"""Intents and their slots -> the canonical answer in language v2 (``core/language.py``).

A command means one ``Intent``: a ``Plan`` of steps (move, turn, arc, circle, square, wait, go to,
each possibly ``x N``; the whole plan possibly ``repeat N``), or a ``Fixed`` answer (stop, a query,
again/undo/continue, a reply with its reason). ``answer()`` writes the one line the model must
produce; ``meant()`` says what the parser must make of it, computed here from the slots and not by
the parser, so the builder can drop an answer that does not parse back to what the generator meant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ros2_llm_controller.core.language import ANGULAR_SIGN, CIRCLE_RADIUS_M, LINEAR_SIGN, PLAIN_TURN_DEG
from ros2_llm_controller.core.parser import Answer, AnswerKind

from .quantities import Qty

NAMED = {"quarter": Qty(90, "deg"), "half": Qty(180, "deg"), "full": Qty(360, "deg")}


def _x(times: int) -> str:
    return f" x{times}" if times > 1 else ""


@dataclass(frozen=True)
class Move:
    dir: str  # the answer's direction word (forward, back, ahead, ...)
    amount: Qty | None = None  # length
    time: Qty | None = None
    speed: Qty | None = None
    times: int = 1

    def answer(self) -> str:
        s = f"move {self.dir}"
        if self.amount:
            s += f" {self.amount.text}"
        elif self.time:
            s += f" for {self.time.text}"
        if self.speed:
            s += f" at {self.speed.text}"
        return s + _x(self.times)

    def meant(self) -> list[dict]:
        sign = LINEAR_SIGN[self.dir]
        m = {"type": "move", "linear": sign, "angular": 0}
        if self.amount:
            m["distance_m"] = sign * self.amount.si
        if self.time:
            m["duration_s"] = self.time.si
        if self.speed:
            m["speed"] = self.speed.si
        return [m] * self.times


@dataclass(frozen=True)
class Turn:
    dir: str
    angle: Qty | None = None  # None with no time: a plain turn (90 deg)
    time: Qty | None = None
    rate: Qty | None = None
    times: int = 1

    def answer(self) -> str:
        s = f"turn {self.dir}"
        if self.angle:
            s += f" {self.angle.text}"
        elif self.time:
            s += f" for {self.time.text}"
        if self.rate:
            s += f" at {self.rate.text}"
        return s + _x(self.times)

    def meant(self) -> list[dict]:
        sign = ANGULAR_SIGN[self.dir]
        m = {"type": "move", "linear": 0, "angular": sign}
        if self.angle:
            m["angle_rad"] = sign * self.angle.si
        elif not self.time:
            m["angle_rad"] = sign * math.radians(PLAIN_TURN_DEG)
        if self.time:
            m["duration_s"] = self.time.si
        if self.rate:
            m["speed"] = self.rate.si
        return [m] * self.times


@dataclass(frozen=True)
class Arc:
    ldir: str
    length: Qty
    adir: str
    angle: Qty
    times: int = 1

    def answer(self) -> str:
        return f"arc {self.ldir} {self.length.text} {self.adir} {self.angle.text}" + _x(self.times)

    def meant(self) -> list[dict]:
        ls, as_ = LINEAR_SIGN[self.ldir], ANGULAR_SIGN[self.adir]
        return [{"type": "move", "linear": ls, "angular": as_, "distance_m": ls * self.length.si,
                 "angle_rad": as_ * self.angle.si}] * self.times


@dataclass(frozen=True)
class Circle:
    adir: str
    radius: Qty | None = None
    times: int = 1
    sweep: Qty | None = None  # part of a circle ("a half circle": 0.5 rev); None = a full circle

    def answer(self) -> str:
        return (f"circle {self.adir}" + (f" {self.radius.text}" if self.radius else "")
                + (f" {self.sweep.text}" if self.sweep else "") + _x(self.times))

    def meant(self) -> list[dict]:
        r = self.radius.si if self.radius else CIRCLE_RADIUS_M
        sweep = self.sweep.si if self.sweep else 2 * math.pi
        sign = ANGULAR_SIGN[self.adir]
        return [{"type": "move", "linear": 1, "angular": sign, "distance_m": sweep * r,
                 "angle_rad": sign * sweep}] * self.times


@dataclass(frozen=True)
class Square:
    side: Qty
    adir: str | None = None
    times: int = 1

    def answer(self) -> str:
        return f"square {self.side.text}" + (f" {self.adir}" if self.adir else "") + _x(self.times)

    def meant(self) -> list[dict]:
        sign = ANGULAR_SIGN[self.adir or "left"]
        leg = [{"type": "move", "linear": 1, "angular": 0, "distance_m": self.side.si},
               {"type": "move", "linear": 0, "angular": sign, "angle_rad": sign * math.pi / 2}]
        return leg * 4 * self.times


@dataclass(frozen=True)
class Wait:
    time: Qty
    times: int = 1

    def answer(self) -> str:
        return f"wait {self.time.text}" + _x(self.times)

    def meant(self) -> list[dict]:
        return [{"type": "wait", "duration_s": self.time.si}] * self.times


@dataclass(frozen=True)
class GoTo:
    place: str  # the command's words for the place, without articles
    times: int = 1

    def answer(self) -> str:
        return f"go to {self.place}" + _x(self.times)

    def meant(self) -> list[dict]:
        return [{"type": "goto", "place": self.place}] * self.times


Step = Move | Turn | Arc | Circle | Square | Wait | GoTo


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    repeat: int = 1

    def answer(self) -> str:
        body = "; ".join(s.answer() for s in self.steps)
        return f"repeat {self.repeat}: {body}" if self.repeat > 1 else body

    def matches(self, parsed: Answer) -> bool:
        if parsed.kind is not AnswerKind.PLAN:
            return False
        meant = [m for s in self.steps for m in s.meant()] * self.repeat
        return len(meant) == len(parsed.steps) and all(_same(m, a) for m, a in zip(meant, parsed.steps))


@dataclass(frozen=True)
class Fixed:
    """An answer without a plan: stop, query, again/undo/continue, reply."""

    text: str

    def answer(self) -> str:
        return self.text

    def matches(self, parsed: Answer) -> bool:
        head, _, rest = self.text.partition(" ")
        if head == "stop":
            return parsed.kind is AnswerKind.STOP
        if head == "query":
            return parsed.kind is AnswerKind.QUERY and parsed.query.value == rest
        if head in ("again", "undo", "continue"):
            n = int(rest[1:]) if rest else 1
            return parsed.kind is AnswerKind.MEMORY and parsed.memory.value == head and parsed.count == n
        if head == "reply":
            return parsed.kind is AnswerKind.REPLY and parsed.reason is not None and parsed.reason.value == rest
        return False


Intent = Plan | Fixed


def _close(a: float | None, b: float) -> bool:
    return a is not None and math.isclose(a, b, rel_tol=1e-3, abs_tol=1e-6)


def _sign(v: float) -> int:
    return (v > 0) - (v < 0)


def _same(m: dict, a) -> bool:
    if a.type != m["type"]:
        return False
    if m["type"] == "goto":
        return a.place == m["place"]
    if m["type"] == "wait":
        return _close(a.duration_s, m["duration_s"])
    if _sign(a.linear_x) != m["linear"] or _sign(a.angular_z) != m["angular"]:
        return False
    checks = [("distance_m", a.distance_m), ("angle_rad", a.angle_rad), ("duration_s", a.duration_s)]
    if any(k in m and not _close(v, m[k]) for k, v in checks):
        return False
    if "speed" in m and not _close(abs(a.linear_x if m["linear"] else a.angular_z), m["speed"]):
        return False
    return True

