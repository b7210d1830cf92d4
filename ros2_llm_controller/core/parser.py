"""Model text -> Action. The one parser used by the node, the CLI, training and evaluation.

Two formats are read.

The compact format the shipped adapter is trained on. The model only restates the command (kind of
motion, the command's own direction word, quantities with the command's own units) and this parser
maps words to signs and does the arithmetic:

    move forward 2 m              move back 50 cm at 0.2 m/s             move ahead for 3 s
    turn left 90 deg              turn clockwise 1.5 rad at 0.3 rad/s    turn anticlockwise for 2 s
    arc forward 1 m left 90 deg   stop                                   query battery
    reply I can only drive the robot: tell me a distance or an angle.

Directions: forward, forwards, ahead / backward, backwards, back, reverse; left, counterclockwise,
counter-clockwise, anticlockwise, anti-clockwise, ccw / right, clockwise, cw.

The course's verbose format, e.g.
    "Executing linear motion: distance=2.0m, speed=0.5m/s. Publishing cmd_vel with linear.x=0.5
    for 4.0 seconds."
where the published values are taken as written.

Any other text is a reply without motion, unless it talks about motion, in which case it is a
ParseError: the robot never moves on text it could not read.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .actions import QUERIES, STOP, Action, ParseError
from .units import (ANGLE_RAD, ANGULAR_SPEED_RPS, LENGTH_M, LINEAR_SPEED_MPS, QUANTITY, TIME_S,
                    parse_number, unit_alternatives)


@dataclass(frozen=True)
class MotionDefaults:
    """Speeds used when the command names a distance or angle but no speed."""

    linear_mps: float = 0.5
    angular_rps: float = 0.5
    duration_s: float = 2.0  # "move forward" with no quantity

    def __post_init__(self):
        for name in ("linear_mps", "angular_rps", "duration_s"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a positive number, got {v}")


_LEN_U = unit_alternatives(LENGTH_M)
_ANG_U = unit_alternatives(ANGLE_RAD)
_TIME_U = unit_alternatives(TIME_S)
_LSPD_U = unit_alternatives(LINEAR_SPEED_MPS)
_ASPD_U = unit_alternatives(ANGULAR_SPEED_RPS)
_END = r"(?![\w/])"  # a unit must not run into more letters ("m" must not match "min")

_LINEAR_DIR = {"forward": 1, "forwards": 1, "ahead": 1, "backward": -1, "backwards": -1, "back": -1, "reverse": -1}
_ANGULAR_DIR = {"left": 1, "right": -1, "counterclockwise": 1, "counter-clockwise": 1, "anticlockwise": 1,
                "anti-clockwise": 1, "ccw": 1, "clockwise": -1, "cw": -1}
_LDIR = "|".join(sorted(_LINEAR_DIR, key=len, reverse=True))
_ADIR = "|".join(sorted(map(re.escape, _ANGULAR_DIR), key=len, reverse=True))

_SPEED_L = rf"(?:\s+at\s+(?P<speed>{QUANTITY})\s*(?P<speed_u>{_LSPD_U}){_END})?"
_SPEED_A = rf"(?:\s+at\s+(?P<speed>{QUANTITY})\s*(?P<speed_u>{_ASPD_U}){_END})?"
_FOR = rf"for\s+(?P<time>{QUANTITY})\s*(?P<time_u>{_TIME_U}){_END}"

_MOVE = re.compile(
    rf"^move\s+(?P<dir>{_LDIR})"
    rf"(?:\s+(?:(?P<dist>{QUANTITY})\s*(?P<dist_u>{_LEN_U}){_END}|{_FOR}))?{_SPEED_L}$", re.I)
_TURN = re.compile(
    rf"^turn\s+(?P<dir>{_ADIR})"
    rf"(?:\s+(?:(?P<angle>{QUANTITY})\s*(?P<angle_u>{_ANG_U})(?:{_END}|(?<=°))|{_FOR}))?{_SPEED_A}$", re.I)
_ARC = re.compile(
    rf"^arc\s+(?P<ldir>{_LDIR})\s+(?P<dist>{QUANTITY})\s*(?P<dist_u>{_LEN_U}){_END}"
    rf"\s+(?P<adir>{_ADIR})\s+(?P<angle>{QUANTITY})\s*(?P<angle_u>{_ANG_U})(?:{_END}|(?<=°))$", re.I)
_STOP = re.compile(r"^(?:stop|halt)(?:\s+(?:now|immediately))?$", re.I)
_QUERY = re.compile(rf"^query\s+(?P<what>{'|'.join(QUERIES)})$", re.I)
_REPLY = re.compile(r"^reply\s*:?\s+(?P<text>\S.*)$", re.I | re.S)
_COMPACT_HEAD = re.compile(r"^(?:move|turn|arc|stop|halt|query|reply)\b", re.I)

# Course format.
_PUBLISH = re.compile(r"publishing\s+cmd_vel\s+with\b(?P<body>.*)", re.I | re.S)
_FIELD = {
    "linear_x": re.compile(rf"linear\.x\s*=\s*(?P<v>{QUANTITY})", re.I),
    "angular_z": re.compile(rf"angular\.z\s*=\s*(?P<v>{QUANTITY})", re.I),
    "duration_s": re.compile(rf"\bfor\s+(?P<v>{QUANTITY})\s*(?:s|sec|secs|seconds?)\b", re.I),
}
_EXEC_LINEAR = re.compile(
    rf"executing\s+linear\s+motion\s*:\s*distance\s*=\s*(?P<dist>{QUANTITY})\s*m\b.*?"
    rf"speed\s*=\s*(?P<speed>{QUANTITY})\s*m/s", re.I | re.S)
_EXEC_ROTATION = re.compile(
    rf"executing\s+rotation\s*:\s*angle\s*=\s*(?P<angle>{QUANTITY})\s*(?P<angle_u>°|deg|degrees|rad)"
    rf"(?:\s*\((?P<sense>[\w-]+)\))?.*?angular_speed\s*=\s*(?P<speed>{QUANTITY})\s*rad/s", re.I | re.S)

# Free text that talks about motion but matched nothing above is unreadable, not a reply.
_MOTION_WORDS = re.compile(
    r"\b(?:cmd_vel|linear\.x|angular\.z|executing|mov(?:e|es|ed|ing)|driv(?:e|es|ing)|rotat\w*|turn(?:s|ed|ing)?|"
    r"spin\w*|forwards?|backwards?|reverse|velocity|m/s|rad/s|arc)\b", re.I)

MAX_TEXT_CHARS = 4000


def _num(s: str) -> float:
    try:
        v = parse_number(s)
    except (ValueError, ZeroDivisionError) as exc:
        raise ParseError(f"not a number: {s!r}", s) from exc
    if not math.isfinite(v):
        raise ParseError(f"not a finite number: {s!r}", s)
    return v


def _speed(m: re.Match, table: dict, default: float) -> tuple[float, bool]:
    if m.group("speed") is None:
        return default, False
    v = abs(_num(m.group("speed")) * table[m.group("speed_u").lower()])
    if v == 0:
        raise ParseError("speed must not be zero", m.group(0))
    return v, True


def _time(m: re.Match) -> float | None:
    if m.group("time") is None:
        return None
    t = _num(m.group("time")) * TIME_S[m.group("time_u").lower()]
    if t <= 0:
        raise ParseError("duration must be positive", m.group(0))
    return t


def _parse_move(m: re.Match, d: MotionDefaults) -> Action:
    sign = _LINEAR_DIR[m.group("dir").lower()]
    speed, _ = _speed(m, LINEAR_SPEED_MPS, d.linear_mps)
    t = _time(m)
    if m.group("dist") is not None:
        dist = sign * _num(m.group("dist")) * LENGTH_M[m.group("dist_u").lower()]
        if dist == 0:
            return STOP
        return Action("move", linear_x=math.copysign(speed, dist), duration_s=abs(dist) / speed, distance_m=dist)
    return Action("move", linear_x=sign * speed, duration_s=t if t is not None else d.duration_s)


def _parse_turn(m: re.Match, d: MotionDefaults) -> Action:
    sign = _ANGULAR_DIR[m.group("dir").lower()]
    speed, _ = _speed(m, ANGULAR_SPEED_RPS, d.angular_rps)
    t = _time(m)
    if m.group("angle") is not None:
        angle = sign * _num(m.group("angle")) * ANGLE_RAD[m.group("angle_u").lower()]
        if angle == 0:
            return STOP
        return Action("move", angular_z=math.copysign(speed, angle), duration_s=abs(angle) / speed, angle_rad=angle)
    return Action("move", angular_z=sign * speed, duration_s=t if t is not None else d.duration_s)


def _parse_arc(m: re.Match, d: MotionDefaults) -> Action:
    dist = _LINEAR_DIR[m.group("ldir").lower()] * _num(m.group("dist")) * LENGTH_M[m.group("dist_u").lower()]
    angle = _ANGULAR_DIR[m.group("adir").lower()] * _num(m.group("angle")) * ANGLE_RAD[m.group("angle_u").lower()]
    if dist == 0:
        raise ParseError("an arc needs a non-zero distance", m.group(0))
    # Drive at the default speed, unless the turn would then need more than the default turn rate.
    duration = max(abs(dist) / d.linear_mps, abs(angle) / d.angular_rps)
    return Action("move", linear_x=dist / duration, angular_z=angle / duration, duration_s=duration,
                  distance_m=dist, angle_rad=angle)


def _parse_compact(line: str, d: MotionDefaults) -> Action:
    for pattern, build in ((_MOVE, _parse_move), (_TURN, _parse_turn), (_ARC, _parse_arc)):
        m = pattern.match(line)
        if m:
            return build(m, d)
    if _STOP.match(line):
        return STOP
    m = _QUERY.match(line)
    if m:
        return Action("reply", query=m.group("what").lower())
    m = _REPLY.match(line)
    if m:
        return Action("reply", reply=m.group("text").strip())
    raise ParseError(f"not a valid action: {line[:120]!r}", line)


def _parse_course(text: str, d: MotionDefaults) -> Action | None:
    pub = _PUBLISH.search(text)
    if pub:
        body = pub.group("body")
        vals = {k: _num(p.search(body).group("v")) for k, p in _FIELD.items() if p.search(body)}
        if "duration_s" not in vals or not ({"linear_x", "angular_z"} & vals.keys()):
            raise ParseError("cmd_vel text without velocity or duration", text)
        if vals["duration_s"] <= 0:
            raise ParseError("duration must be positive", text)
        lin, ang = vals.get("linear_x", 0.0), vals.get("angular_z", 0.0)
        if lin == 0 and ang == 0:
            return STOP
        return Action("move", linear_x=lin, angular_z=ang, duration_s=vals["duration_s"],
                      distance_m=lin * vals["duration_s"] if ang == 0 else None,
                      angle_rad=ang * vals["duration_s"] if lin == 0 else None)
    m = _EXEC_LINEAR.search(text)
    if m:
        dist, speed = _num(m.group("dist")), abs(_num(m.group("speed")))
        if speed == 0:
            raise ParseError("speed must not be zero", text)
        return Action("move", linear_x=math.copysign(speed, dist), duration_s=abs(dist) / speed, distance_m=dist)
    m = _EXEC_ROTATION.search(text)
    if m:
        angle = _num(m.group("angle")) * ANGLE_RAD[m.group("angle_u").lower()]
        sense = (m.group("sense") or "").lower()
        if sense in _ANGULAR_DIR:
            angle = math.copysign(angle, _ANGULAR_DIR[sense])
        speed = abs(_num(m.group("speed")))
        if speed == 0:
            raise ParseError("angular speed must not be zero", text)
        return Action("move", angular_z=math.copysign(speed, angle), duration_s=abs(angle) / speed, angle_rad=angle)
    return None


def parse_action(text: str, defaults: MotionDefaults | None = None) -> Action:
    """Read model text as an Action; raise ParseError if it cannot be read safely."""
    d = defaults or MotionDefaults()
    if not isinstance(text, str):
        raise ParseError(f"model output must be text, got {type(text).__name__}")
    if len(text) > MAX_TEXT_CHARS:
        raise ParseError(f"model output too long ({len(text)} characters)", text[:200])
    stripped = text.strip().strip("`").strip()
    if not stripped:
        raise ParseError("model output is empty", text)
    first = stripped.splitlines()[0].strip().rstrip(".").strip()
    if _COMPACT_HEAD.match(first):
        if _REPLY.match(stripped):
            return Action("reply", reply=_REPLY.match(stripped).group("text").strip())
        return _parse_compact(" ".join(first.split()), d)
    course = _parse_course(stripped, d)
    if course is not None:
        return course
    if _MOTION_WORDS.search(stripped):
        raise ParseError("model text talks about motion but is in no known action format", text)
    return Action("reply", reply=stripped)

