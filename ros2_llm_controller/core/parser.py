"""Model text -> what the robot should do. The one parser used by the node, the CLI, training and
evaluation.

The model writes language v2 (``language.py``), one line::

    move forward 2 m                  move back 50 cm at 0.2 m/s        move ahead for 3 s
    turn left 90 deg                  turn clockwise 1.5 rad at 0.3 rad/s   turn left (= 90 deg)
    arc forward 1 m left 90 deg       circle left 2 m                   square 1 m right
    move forward 1 m; turn left 90 deg; wait 2 s; go to kitchen         turn left 360 deg x2
    repeat 2: move forward 1 m; turn left 90 deg
    stop    query battery    again x2    undo    continue    reply negated

The answer is read after the same normalisation the command gets (``normalise.py``: case, units,
pi, "°"), so "Turn right 90°." and "turn anticlockwise π/2 rad" read too, and so do forms the
grammar never writes but a model might: a duration without "for" ("move forward 5 s at 0.3 m/s").
The parser maps direction words to signs and does the arithmetic with the configured defaults.

The course's verbose format is read too, e.g. "Executing linear motion: distance=2.0m,
speed=0.5m/s. Publishing cmd_vel with linear.x=0.5 for 4.0 seconds." (published values taken as
written).

Any other text is a reply without motion, unless it talks about motion, in which case it is a
ParseError: the robot never moves on text it could not read.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass

from .actions import STOP, Action, ParseError
from .language import (ANGULAR_SIGN, CIRCLE_RADIUS_M, DEFAULT_UNIT, LINEAR_SIGN, MAX_COUNT, PLAIN_TURN_DEG,
                       Memory, Query, Reason, REPLIES)
from .normalise import UNIT_KIND, normalise
from .units import ANGLE_RAD, ANGULAR_SPEED_RPS, LENGTH_M, LINEAR_SPEED_MPS, QUANTITY, TIME_S, parse_number


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


class AnswerKind(str, enum.Enum):
    PLAN = "plan"  # steps to execute in order
    STOP = "stop"
    QUERY = "query"  # answered from live sensor data
    MEMORY = "memory"  # again / undo / continue: resolved from the planner's history
    REPLY = "reply"  # no motion


@dataclass(frozen=True)
class Answer:
    """A parsed model answer. ``steps`` hold move, wait and goto actions (a plan)."""

    kind: AnswerKind
    steps: tuple[Action, ...] = ()
    query: Query | None = None
    memory: Memory | None = None
    count: int = 1  # "again x2"
    reason: Reason | None = None
    reply: str | None = None

    @property
    def moves(self) -> bool:
        return any(s.moves or s.type == "goto" for s in self.steps)


_LDIR = "|".join(sorted(LINEAR_SIGN, key=len, reverse=True))
_ADIR = "|".join(sorted(ANGULAR_SIGN, key=len, reverse=True))
_Q = r"[-+]?\d+(?:\.\d+)?(?: [a-z/]+)?"  # a normalised quantity: "2.5 m", "90 deg", "3"
_MOVE = re.compile(rf"^move (?P<dir>{_LDIR})(?: (?P<q>{_Q}))?(?: for (?P<t>{_Q}))?(?: at (?P<v>{_Q}))?$")
_TURN = re.compile(rf"^turn (?P<dir>{_ADIR})(?: (?P<q>{_Q}))?(?: for (?P<t>{_Q}))?(?: at (?P<v>{_Q}))?$")
_ARC = re.compile(rf"^arc (?P<ldir>{_LDIR}) (?P<d>{_Q}) (?P<adir>{_ADIR}) (?P<a>{_Q})$")
_CIRCLE = re.compile(rf"^circle (?P<adir>{_ADIR})(?: (?P<r>{_Q}))?(?: (?P<a>{_Q}))?$")
_SQUARE = re.compile(rf"^square (?P<s>{_Q})(?: (?P<adir>{_ADIR}))?$")
_GOTO = re.compile(r"^go to (?P<place>[a-z0-9' ]+)$")
_WAIT = re.compile(rf"^wait (?P<t>{_Q})$")
_TIMES = re.compile(r"^(?P<body>.*?) ?x ?(?P<n>\d+)$")
_REPEAT = re.compile(r"^repeat (?P<n>\d+) ?: ?(?P<body>.+)$")
_STOP = re.compile(r"^(?:stop|halt)(?: now| immediately)?$")
_QUERY = re.compile(rf"^query (?P<what>{'|'.join(q.value for q in Query)})$")
_MEMORY = re.compile(r"^(?P<what>again|undo|continue)(?: x ?(?P<n>\d+))?$")
_REPLY = re.compile(r"^reply\s*:?\s+(?P<text>\S.*)$", re.I | re.S)
_COMPACT_HEAD = re.compile(r"^(?:move|turn|arc|circle|square|go to|wait|repeat|stop|halt|query|again|undo|continue|"
                           r"reply)\b", re.I)
_SENSE = {"anticlockwise": "counterclockwise", "anti-clockwise": "counterclockwise",
          "counter-clockwise": "counterclockwise", "ccw": "counterclockwise", "cw": "clockwise"}
_QTY = re.compile(r"^(?P<num>[-+]?\d+(?:\.\d+)?)(?: (?P<unit>[a-z/]+))?$")
_TABLES = {"length": LENGTH_M, "angle": ANGLE_RAD, "time": TIME_S, "linear_speed": LINEAR_SPEED_MPS,
           "angular_speed": ANGULAR_SPEED_RPS}

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




def _quantity(text: str | None, *kinds: str) -> tuple[str, float] | None:
    """(kind, SI value) of a normalised quantity that must be one of ``kinds``; a bare number takes
    the first kind's default unit."""
    if text is None:
        return None
    m = _QTY.match(text)
    if not m:
        raise ParseError(f"not a quantity: {text!r}", text)
    value = _num(m.group("num"))
    unit = m.group("unit") or next((DEFAULT_UNIT[k] for k in kinds if k in DEFAULT_UNIT), None)
    kind = UNIT_KIND.get(unit or "")
    if kind not in kinds:
        raise ParseError(f"{text!r} is not a {' or '.join(k.replace('_', ' ') for k in kinds)}", text)
    return kind, value * _TABLES[kind][unit]


def _positive(value: float, what: str, text: str) -> float:
    if value <= 0:
        raise ParseError(f"{what} must be positive", text)
    return value


def _straight(sign: int, q, t, v, default_speed: float, default_duration: float, text: str,
              plain: float | None = None) -> Action | None:
    """A move (or turn): quantity q ("length"/"angle" or "time"), optional time t and speed v."""
    axis_is_linear = plain is None
    speed = _positive(abs(v[1]), "speed", text) if v else default_speed
    amount = None
    if q is not None and q[0] == "time":
        q, t = None, q if t is None else _raise(ParseError("two durations", text))
    if q is not None:
        amount = sign * q[1]
        if amount == 0:
            return None
        if t is not None:
            if v is not None:
                raise ParseError("distance, time and speed all given: over-determined", text)
            speed = abs(amount) / _positive(t[1], "duration", text)
        duration = abs(amount) / speed
    elif t is not None:
        duration = _positive(t[1], "duration", text)
    elif plain is not None:  # "turn left": a quarter turn
        amount = sign * plain
        duration = abs(amount) / speed
    else:
        duration = default_duration
    vel = math.copysign(speed, amount if amount is not None else sign)  # "move forward -1 m" reverses
    if axis_is_linear:
        return Action("move", linear_x=vel, duration_s=duration, distance_m=amount)
    return Action("move", angular_z=vel, duration_s=duration, angle_rad=amount)


def _raise(exc: Exception):
    raise exc


def _arc(dist: float, angle: float, d: MotionDefaults, text: str) -> Action:
    if dist == 0:
        raise ParseError("an arc needs a non-zero distance", text)
    # Drive at the default speed, unless the turn would then need more than the default turn rate.
    duration = max(abs(dist) / d.linear_mps, abs(angle) / d.angular_rps)
    return Action("move", linear_x=dist / duration, angular_z=angle / duration, duration_s=duration,
                  distance_m=dist, angle_rad=angle)


def _step(text: str, d: MotionDefaults) -> list[Action]:
    """One step of a plan (possibly with " xN") as actions; [] for a zero-length motion."""
    m = _TIMES.match(text)
    n = 1
    if m and not _QTY.match(m.group("body")):
        text, n = m.group("body"), int(m.group("n"))
        if not 1 <= n <= MAX_COUNT:
            raise ParseError(f"repeat count {n} outside 1..{MAX_COUNT}", text)
    if m := _MOVE.match(text):
        q = _quantity(m.group("q"), "length", "time")
        a = _straight(LINEAR_SIGN[m.group("dir")], q, _quantity(m.group("t"), "time"),
                      _quantity(m.group("v"), "linear_speed"), d.linear_mps, d.duration_s, text)
        out = [a] if a else []
    elif m := _TURN.match(text):
        q = _quantity(m.group("q"), "angle", "time")
        a = _straight(ANGULAR_SIGN[m.group("dir")], q, _quantity(m.group("t"), "time"),
                      _quantity(m.group("v"), "angular_speed"), d.angular_rps, d.duration_s, text,
                      plain=math.radians(PLAIN_TURN_DEG))
        out = [a] if a else []
    elif m := _ARC.match(text):
        dist = LINEAR_SIGN[m.group("ldir")] * _quantity(m.group("d"), "length")[1]
        angle = ANGULAR_SIGN[m.group("adir")] * _quantity(m.group("a"), "angle")[1]
        out = [_arc(dist, angle, d, text)]
    elif m := _CIRCLE.match(text):
        parts = dict(_quantity(q, "length", "angle") for q in (m.group("r"), m.group("a")) if q)
        if len(parts) < bool(m.group("r")) + bool(m.group("a")):
            raise ParseError("a circle takes one radius and one sweep angle", text)
        radius = _positive(parts.get("length", CIRCLE_RADIUS_M), "radius", text)
        sweep = _positive(parts.get("angle", 2 * math.pi), "sweep angle", text)  # "circle left 1 m 180 deg": half
        out = [_arc(radius * sweep, ANGULAR_SIGN[m.group("adir")] * sweep, d, text)]
    elif m := _SQUARE.match(text):
        side = _positive(_quantity(m.group("s"), "length")[1], "side", text)
        sign = ANGULAR_SIGN[m.group("adir") or "left"]
        out = [Action("move", linear_x=d.linear_mps, duration_s=side / d.linear_mps, distance_m=side),
               Action("move", angular_z=sign * d.angular_rps, duration_s=(math.pi / 2) / d.angular_rps,
                      angle_rad=sign * math.pi / 2)] * 4
    elif m := _GOTO.match(text):
        out = [Action("goto", place=" ".join(m.group("place").split()))]
    elif m := _WAIT.match(text):
        out = [Action("wait", duration_s=_positive(_quantity(m.group("t"), "time")[1], "duration", text))]
    else:
        raise ParseError(f"not a valid step: {text[:120]!r}", text)
    return out * n


def parse_answer(text: str, defaults: MotionDefaults | None = None) -> Answer:
    """Read model text as an Answer; raise ParseError if it cannot be read safely."""
    d = defaults or MotionDefaults()
    if not isinstance(text, str):
        raise ParseError(f"model output must be text, got {type(text).__name__}")
    if len(text) > MAX_TEXT_CHARS:
        raise ParseError(f"model output too long ({len(text)} characters)", text[:200])
    stripped = text.strip().strip("`").strip()
    if not stripped:
        raise ParseError("model output is empty", text)
    first = stripped.splitlines()[0].strip()
    if _COMPACT_HEAD.match(first):
        m = _REPLY.match(stripped)
        if m:
            words = m.group("text").strip()
            reason = next((r for r in Reason if words.lower().rstrip(".") == r.value), None)
            return Answer(AnswerKind.REPLY, reason=reason, reply=REPLIES[reason] if reason else words)
        return _parse_compact(normalise(first).rstrip(".").strip(), d)
    course = _parse_course(stripped, d)
    if course is not None:
        return Answer(AnswerKind.STOP) if course.type == "stop" else Answer(AnswerKind.PLAN, (course,))
    if _MOTION_WORDS.search(stripped):
        raise ParseError("model text talks about motion but is in no known action format", text)
    return Answer(AnswerKind.REPLY, reply=stripped)


def _parse_compact(line: str, d: MotionDefaults) -> Answer:
    if _STOP.match(line):
        return Answer(AnswerKind.STOP)
    if m := _QUERY.match(line):
        return Answer(AnswerKind.QUERY, query=Query(m.group("what")))
    if m := _MEMORY.match(line):
        n = int(m.group("n") or 1)
        if not 1 <= n <= MAX_COUNT:
            raise ParseError(f"repeat count {n} outside 1..{MAX_COUNT}", line)
        return Answer(AnswerKind.MEMORY, memory=Memory(m.group("what")), count=n)
    repeat = 1
    if m := _REPEAT.match(line):
        repeat, line = int(m.group("n")), m.group("body")
        if not 1 <= repeat <= MAX_COUNT:
            raise ParseError(f"repeat count {repeat} outside 1..{MAX_COUNT}", line)
    steps: list[Action] = []
    for part in line.split(";"):
        part = part.strip()
        if not part:
            raise ParseError("empty step in a plan", line)
        steps += _step(part, d)
    if not steps:  # every step was a zero-length motion
        return Answer(AnswerKind.STOP)
    return Answer(AnswerKind.PLAN, tuple(steps) * repeat)


def parse_action(text: str, defaults: MotionDefaults | None = None) -> Action:
    """The first action of an answer (plans: the first step; queries: a reply with its query).

    For callers that handle one action at a time; ``parse_answer`` gives the whole plan.
    """
    a = parse_answer(text, defaults)
    if a.kind is AnswerKind.PLAN:
        return a.steps[0]
    if a.kind is AnswerKind.STOP:
        return STOP
    if a.kind is AnswerKind.QUERY:
        return Action("reply", query=a.query.value)
    if a.kind is AnswerKind.REPLY:
        return Action("reply", reply=a.reply)
    raise ParseError(f"{a.memory.value!r} refers to earlier commands: it needs the planner's history", text)


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
        sense = _SENSE.get(sense, sense)
        if sense in ANGULAR_SIGN:
            angle = math.copysign(angle, ANGULAR_SIGN[sense])
        speed = abs(_num(m.group("speed")))
        if speed == 0:
            raise ParseError("angular speed must not be zero", text)
        return Action("move", angular_z=math.copysign(speed, angle), duration_s=abs(angle) / speed, angle_rad=angle)
    return None


