"""Numbers and units as they appear in model text: decimals, exponents, π, and SI conversions."""

from __future__ import annotations

import math
import re

NUMBER = r"[-+−]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
# "3.14", "-2e-1", "π", "2π", "0.5 pi", "π/2", "3/4"
QUANTITY = rf"(?:(?:{NUMBER})?\s*(?:π|pi)(?:\s*/\s*{NUMBER})?|{NUMBER}(?:\s*/\s*{NUMBER})?)"
_PI = re.compile(rf"^(?P<k>{NUMBER})?\s*(?:π|pi)(?:\s*/\s*(?P<d>{NUMBER}))?$", re.I)
_FRACTION = re.compile(rf"^(?P<n>{NUMBER})\s*/\s*(?P<d>{NUMBER})$")

LENGTH_M = {
    "m": 1.0, "meter": 1.0, "meters": 1.0, "metre": 1.0, "metres": 1.0,
    "cm": 0.01, "centimeter": 0.01, "centimeters": 0.01, "centimetre": 0.01, "centimetres": 0.01,
    "mm": 0.001, "millimeter": 0.001, "millimeters": 0.001, "millimetre": 0.001, "millimetres": 0.001,
    "km": 1000.0,
    "ft": 0.3048, "foot": 0.3048, "feet": 0.3048,
    "in": 0.0254, "inch": 0.0254, "inches": 0.0254,
    "yd": 0.9144, "yard": 0.9144, "yards": 0.9144,
}
ANGLE_RAD = {
    "deg": math.pi / 180, "degree": math.pi / 180, "degrees": math.pi / 180, "°": math.pi / 180,
    "rad": 1.0, "radian": 1.0, "radians": 1.0,
    "rev": 2 * math.pi, "revolution": 2 * math.pi, "revolutions": 2 * math.pi,
    "turn": 2 * math.pi, "turns": 2 * math.pi,
}
TIME_S = {
    "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
    "ms": 0.001, "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0, "h": 3600.0,
}
LINEAR_SPEED_MPS = {f"{u}/s": f for u, f in LENGTH_M.items() if len(u) <= 2}
LINEAR_SPEED_MPS.update({"km/h": 1000 / 3600, "kph": 1000 / 3600, "mph": 1609.344 / 3600})
ANGULAR_SPEED_RPS = {"rad/s": 1.0, "deg/s": math.pi / 180, "°/s": math.pi / 180, "rpm": 2 * math.pi / 60}


def parse_number(text: str) -> float:
    """Parse a number as models write it; raises ValueError on anything else."""
    s = text.strip().replace("−", "-").replace(" ", "")
    m = _PI.match(s)
    if m:
        k = m.group("k")
        value = (float(k) if k not in (None, "", "+", "-") else (-1.0 if k == "-" else 1.0)) * math.pi
        if m.group("d"):
            value /= float(m.group("d"))
        return value
    m = _FRACTION.match(s)
    if m:
        return float(m.group("n")) / float(m.group("d"))
    return float(s)


def wrap_angle(angle: float) -> float:
    """``angle`` (radians) in (-pi, pi]."""
    a = math.fmod(angle + math.pi, 2 * math.pi)
    if a <= 0:
        a += 2 * math.pi
    return a - math.pi


def wrap_deg(angle_deg: float) -> float:
    """``angle_deg`` (degrees) in (-180, 180]."""
    a = math.fmod(angle_deg, 360.0)
    if a <= -180.0:
        a += 360.0
    elif a > 180.0:
        a -= 360.0
    return a


def unit_alternatives(table: dict[str, float]) -> str:
    """A regex alternation of a unit table, longest first so "mm" wins over "m"."""
    return "|".join(re.escape(u) for u in sorted(table, key=len, reverse=True))
