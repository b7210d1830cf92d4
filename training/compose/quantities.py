"""Quantities: value pools per canonical unit, and the ways people write one quantity.

A ``Qty`` is what the answer copies: the number and canonical unit exactly as ``core.normalise``
writes them ("2.5 m", "18 in", "1.570796 rad"). ``say`` renders it as a person might type it
("two and a half metres", "1 foot 6 inches", "pi/2 radians"); the builder keeps a rendering only
when the normaliser turns it back into ``Qty.text``.

Value pools are split: ``held`` values appear only in the test split.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

from num2words import num2words

from ros2_llm_controller.core.normalise import UNIT_KIND, format_number, normalise
from ros2_llm_controller.core.units import ANGLE_RAD, ANGULAR_SPEED_RPS, LENGTH_M, LINEAR_SPEED_MPS, TIME_S

from .choice import Ctx

_SI = {"length": LENGTH_M, "angle": ANGLE_RAD, "time": TIME_S, "linear_speed": LINEAR_SPEED_MPS,
       "angular_speed": ANGULAR_SPEED_RPS}


@dataclass(frozen=True)
class Qty:
    """A quantity as the normalised command and the answer write it."""

    value: float
    unit: str
    places: int = 4  # pi multiples: the normaliser writes 6 decimals
    pi: tuple[int, int] | None = None  # (k, d) for k*pi/d radians

    @property
    def text(self) -> str:
        return f"{format_number(self.value, self.places)} {self.unit}"

    @property
    def kind(self) -> str:
        return UNIT_KIND[self.unit]

    @property
    def si(self) -> float:
        """In m, rad, s, m/s or rad/s (for the parse-back check)."""
        return float(format_number(self.value, self.places)) * _SI[self.kind][self.unit]


@dataclass(frozen=True)
class Unit:
    unit: str
    plural: tuple[str, ...]  # spellings after a number other than 1
    singular: tuple[str, ...]  # after 1, "a", "half a"
    glued: tuple[str, ...]  # spellings that may follow the digits without a space ("2m")
    train: tuple[float, ...]
    held: tuple[float, ...]


U = Unit
LENGTH = (
    (U("m", ("meters", "metres", "m", "meters", "m", "meter", "metre", "mtrs"), ("meter", "metre", "m"), ("m",),
       (1, 2, 3, 4, 5, 6, 8, 10, 0.5, 1.5, 2.5, 0.3, 0.8, 1.2, 0.4, 0.6, 0.25, 0.75, 1.75, 12, 15),
       (0.7, 1.8, 2.2, 3.5, 4.5, 7, 9, 1.25, 0.9)), 10),
    (U("cm", ("centimeters", "centimetres", "cm", "cms"), ("centimeter", "centimetre", "cm"), ("cm",),
       (10, 20, 25, 30, 50, 75, 80, 100, 150, 5, 40, 120, 250), (15, 35, 60, 45, 90, 130)), 3),
    (U("mm", ("millimeters", "millimetres", "mm"), ("millimeter", "millimetre", "mm"), ("mm",),
       (100, 200, 250, 500, 800, 1500, 2000, 300), (750, 1200, 400, 2500)), 1.5),
    (U("ft", ("feet", "ft", "foot"), ("foot", "ft"), ("ft",), (1, 2, 3, 5, 10, 1.5), (4, 6, 8)), 2),
    (U("in", ("inches", "in", "inch"), ("inch", "in"), (), (6, 12, 18, 24, 30, 20), (10, 36, 14, 40)), 1.5),
    (U("yd", ("yards", "yd", "yds"), ("yard", "yd"), (), (1, 2, 3, 5), (4, 1.5)), 1),
    (U("km", ("kilometers", "km", "kilometres"), ("kilometer", "km"), ("km",), (0.01, 0.005, 0.02), (0.015,)), 0.3),
)
ANGLE = (
    (U("deg", ("degrees", "deg", "degrees", "degs", "degree"), ("degree", "deg"), ("deg",),
       (10, 15, 20, 30, 45, 60, 90, 120, 135, 180, 270, 360, 5, 80, 720), (25, 40, 75, 100, 150, 200, 300, 50)), 10),
    (U("rad", ("radians", "rad", "rads"), ("radian", "rad"), ("rad",),
       (0.5, 1, 1.5, 2, 3, 3.14, 0.25), (0.8, 1.2, 2.5)), 2),
    (U("rev", ("revolutions", "rotations", "turns", "full turns", "full rotations", "revs"),
       ("revolution", "rotation", "turn", "full turn"), (), (1, 2, 0.5, 0.25, 0.75, 3), (1.5,)), 1),
)
# k*pi/d radians, said "pi/2 rad", "π radians", "2 pi rad".
PI_TRAIN = ((1, 2), (1, 1), (2, 1), (1, 4))
PI_HELD = ((1, 3),)
TIME = (
    (U("s", ("seconds", "s", "secs", "sec", "seconds", "second"), ("second", "sec", "s"), ("s", "sec"),
       (1, 2, 3, 4, 5, 10, 1.5, 0.5, 2.5, 6, 15), (7, 8, 12, 3.5, 20)), 10),
    (U("ms", ("milliseconds", "ms"), ("millisecond", "ms"), ("ms",), (500, 1500, 250), (750,)), 1),
    (U("min", ("minutes", "min", "mins"), ("minute", "min"), (), (1, 0.5), (2,)), 1),
)
LINEAR_SPEED = (
    (U("m/s", ("m/s", "meters per second", "metres per second", "meters a second", "m/s", "mps"),
       ("meter per second", "metre per second", "m/s"), ("m/s",),
       (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1, 0.25), (0.15, 0.7, 0.35, 0.45)), 8),
    (U("cm/s", ("cm/s", "centimeters per second", "centimetres per second", "cm per second"),
       ("centimeter per second", "cm/s"), ("cm/s",), (10, 20, 30, 50, 5), (15, 25, 40)), 3),
    (U("mm/s", ("mm/s", "millimeters per second"), ("millimeter per second",), ("mm/s",), (100, 200, 50), (150,)), 0.7),
    (U("km/h", ("km/h", "kilometers per hour", "kilometres an hour", "kph", "km per hour"),
       ("kilometer per hour", "km/h"), ("km/h",), (1, 2, 3, 1.8, 0.5), (2.5, 1.5)), 2),
    (U("mph", ("mph", "miles per hour", "miles an hour"), ("mile per hour", "mph"), ("mph",), (1, 2, 0.5), (1.5,)),
     1.5),
    (U("ft/s", ("ft/s", "feet per second"), ("foot per second", "ft/s"), ("ft/s",), (1, 2, 0.5), (1.5,)), 1),
)
ANGULAR_SPEED = (
    (U("deg/s", ("deg/s", "degrees per second", "degrees a second", "deg per second"), ("degree per second",),
       ("deg/s",), (10, 20, 30, 45, 90, 15), (60, 25, 40)), 5),
    (U("rad/s", ("rad/s", "radians per second", "rad per second"), ("radian per second", "rad/s"), ("rad/s",),
       (0.2, 0.3, 0.5, 0.8, 1, 0.25), (0.4, 0.6)), 5),
    (U("rpm", ("rpm", "RPM"), ("rpm",), ("rpm",), (5, 10, 2), (6, 3)), 1.5),
)
POOLS = {"length": LENGTH, "angle": ANGLE, "time": TIME, "linear_speed": LINEAR_SPEED, "angular_speed": ANGULAR_SPEED}
UNITS = {u.unit: u for pools in POOLS.values() for u, _ in pools}

# Typing these numbers as words goes through these tables (0.5 etc. are handled apart).
_FRACTION_WORDS = {0.5: "half", 0.25: "a quarter of", 0.75: "three quarters of"}
_UNICODE = {0.5: "½", 0.25: "¼", 0.75: "¾"}


def sample(ctx: Ctx, kind: str, units: tuple[str, ...] | None = None, name: str | None = None) -> Qty:
    """A value of ``kind`` (from held-out pools now and then when drawing for the test split)."""
    pools = [(u, w) for u, w in POOLS[kind] if units is None or u.unit in units]
    unit = ctx.weighted(f"unit.{kind}", pools) if len(pools) > 1 else pools[0][0]
    if kind == "angle" and unit.unit == "rad" and ctx.chance(0.3):
        k, d = ctx.pick("values.pi", PI_TRAIN, PI_HELD, p_held=0.3)
        return Qty(k * math.pi / d, "rad", 6, (k, d))
    value = ctx.pick(f"values.{unit.unit}", unit.train, unit.held, p_held=0.5)
    return Qty(float(value), unit.unit)


def _words(n: float) -> str:
    """num2words without its thousands commas; "forty-five" now and then as "forty five"."""
    if float(n).is_integer():
        return num2words(int(n)).replace(",", "")
    return num2words(n).replace(",", "")


def _plain(value: float) -> str:
    return format_number(value)


def forms(q: Qty) -> list[tuple[str, str, float]]:
    """(style, text, weight) for every way this quantity can be typed."""
    u = UNITS[q.unit]
    v = float(q.value)
    out: list[tuple[str, str, float]] = []
    if q.pi:
        k, d = q.pi
        pi = ("pi", "π", "pi", "Pi")
        rad = ("rad", "radians", "rad", "radians")
        for i in range(4):
            num = f"{'' if k == 1 else f'{k} '}{pi[i]}{'' if d == 1 else f'/{d}'}"
            out.append(("pi", f"{num} {rad[i]}", 1.0))
        return out
    n = _plain(v)
    words = u.singular if v == 1 else u.plural
    for w in words:
        out.append(("digits", f"{n} {w}", 6.0 / len(words)))
    for g in u.glued:
        out.append(("glued", f"{n}{g}", 1.0))
    if q.unit == "deg":
        out.append(("degree_sign", f"{n}°", 1.5))
    long_sing = [w for w in u.singular if len(w) > 3] or list(u.singular)
    long_plur = [w for w in u.plural if len(w) > 3] or list(u.plural)
    if v.is_integer() and 1 <= v <= 999:
        out += [("words", f"{_words(v)} {w}", 2.0 / len(long_plur if v != 1 else long_sing))
                for w in (long_sing if v == 1 else long_plur)]
        if v == 1:
            art = "an" if long_sing[0][0] in "aeiou" else "a"
            out.append(("words", f"{art} {long_sing[0]}", 1.0))
        if v == 2 and "/" not in q.unit:
            out.append(("words", f"a couple of {long_plur[0]}", 0.5))
    frac = v - math.floor(v)
    if frac in _FRACTION_WORDS and "/" not in q.unit and q.unit != "rpm":
        whole = int(v)
        if whole == 0 and v in _FRACTION_WORDS:
            out.append(("words", f"{_FRACTION_WORDS[v]} a {long_sing[0]}", 2.0))
        elif whole >= 1 and frac == 0.5:
            out.append(("words", f"{_words(whole)} and a half {long_plur[0]}", 1.5))
        unit = (long_sing if v < 1 else long_plur)[0]
        out.append(("unicode", f"{'' if whole == 0 else whole}{_UNICODE[frac]} {unit}", 0.7))
    elif not v.is_integer() and v < 10 and len(n) <= 4:
        out.append(("words", f"{_words(v)} {long_plur[0]}", 0.7))
    if v >= 1000 and v.is_integer():
        out.append(("thousands", f"{int(v):,} {long_plur[0]}", 2.0))
    if q.unit == "in" and v > 12 and v % 12:
        ft, inch = divmod(int(v), 12)
        out.append(("compound", f"{ft} {'foot' if ft == 1 else 'feet'} {inch} {'inch' if inch == 1 else 'inches'}",
                    2.0))
    if q.unit == "cm" and v > 100 and v % 100 and v < 1000:
        m, cm = divmod(int(v), 100)
        out.append(("compound", f"{m} {'metre' if m == 1 else 'meters'} {cm} cm", 1.5))
    return out


@lru_cache(maxsize=None)
def _reads_back(text: str, canonical: str) -> bool:
    return normalise(f"go {text} now") == f"go {canonical} now"


def valid_forms(q: Qty) -> list[tuple[str, str, float]]:
    """The forms the normaliser reads back as ``q.text`` (the others are normaliser gaps)."""
    return [f for f in forms(q) if _reads_back(f[1], q.text)]


def say(ctx: Ctx, q: Qty, plain: bool = False) -> str:
    """One typed form of ``q`` (``plain``: digits and a unit only)."""
    options = valid_forms(q)
    if plain:
        options = [o for o in options if o[0] in ("digits", "pi")] or options
    style, text, _ = ctx.rng.choices(options, weights=[w for _, _, w in options])[0]
    ctx.trace.append(f"qty={style}")
    return text


_NUMBER = re.compile(r"\d")


def has_digit(text: str) -> bool:
    return bool(_NUMBER.search(text))
