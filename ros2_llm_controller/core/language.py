"""The action language v2: what the model writes, word by word. One place, read by the grammar
(``grammar.py``), the parser (``parser.py``), the dataset generator and the docs.

The model reads the *normalised* command (``normalise.py``: lowercase, digits, canonical units)
and restates it as one line. It copies quantities; code does the arithmetic::

    answer  := plan | "stop" | query | memory | reply
    plan    := ["repeat " COUNT ": "] step ("; " step)*
    step    := base [" x" COUNT]
    base    := "move " LDIR [" " LENGTH | " for " TIME] [" at " LSPEED]
             | "turn " ADIR [" " ANGLE | " for " TIME] [" at " ASPEED]
             | "arc " LDIR " " LENGTH " " ADIR " " ANGLE
             | "circle " ADIR [" " LENGTH] [" " ANGLE] (radius, default 1 m; sweep, default a full circle)
             | "square " LENGTH [" " ADIR]            (side; 4 x move + turn 90, default left)
             | "go to " PLACE                         (words copied from the command)
             | "wait " TIME
    query   := "query " ("battery" | "obstacles" | "status" | "position")
    memory  := "again" [" x" COUNT] | "undo" | "continue"
    reply   := "reply " REASON

Examples (normalised command -> answer)::

    move the robot forward 2 m                     move forward 2 m
    go back 50 cm at 0.2 m/s                       move back 50 cm at 0.2 m/s
    rotate 90 deg clockwise                        turn clockwise 90 deg
    turn left                                      turn left               (90 deg)
    turn around                                    turn left 180 deg       (named quantity)
    drive forward for 3 s at 0.7 m/s               move forward for 3 s at 0.7 m/s
    go forward 1 m then turn left 90 deg           move forward 1 m; turn left 90 deg
    do a 1 m square                                square 1 m
    do 0.5 rev to the right with radius 2 m        circle right 2 m 0.5 rev  (a half circle)
    spin around 2 times                            turn left 360 deg x2
    navigate to the charging station               go to charging station
    do that again                                  again
    don't go forward                               reply negated

A quantity is a number and a unit written as the normalised command writes them ("2.5 m",
"300 mm", "90 deg", "0.3 m/s"). The grammar only offers the quantities of the command itself
(a bare number may take the default unit of the slot: m, deg or s), plus the named angles
below, so the model can neither invent a number nor turn a speed into a distance.
"""

from __future__ import annotations

import enum

# Direction words an answer may use, by axis and sign; ``normalise`` already folds synonyms
# ("anticlockwise", "ccw" -> "counterclockwise", "forwards" -> "forward").
FORWARD_WORDS = ("forward", "ahead", "straight")
BACKWARD_WORDS = ("back", "backward", "reverse")
LEFT_WORDS = ("left", "counterclockwise")
RIGHT_WORDS = ("right", "clockwise")
LINEAR_SIGN = {**{w: 1 for w in FORWARD_WORDS}, **{w: -1 for w in BACKWARD_WORDS}}
ANGULAR_SIGN = {**{w: 1 for w in LEFT_WORDS}, **{w: -1 for w in RIGHT_WORDS}}

# Angles an answer may use although the command has no such number: "turn around" is 180 deg.
NAMED_ANGLES = ("90 deg", "180 deg", "360 deg")
PLAIN_TURN_DEG = 90.0  # "turn left" with no angle
CIRCLE_RADIUS_M = 1.0  # "drive in a circle" with no radius
MAX_COUNT = 10  # "x N" and "repeat N": at most ten repeats
MAX_PLACE_WORDS = 4  # "go to" copies at most this many words

# Canonical units: the normaliser writes these, the grammar offers them, the parser reads them.
LENGTH_UNITS = ("m", "cm", "mm", "km", "ft", "in", "yd")
ANGLE_UNITS = ("deg", "rad", "rev")
TIME_UNITS = ("s", "ms", "min", "h")
LINEAR_SPEED_UNITS = ("m/s", "cm/s", "mm/s", "km/h", "mph", "ft/s")
ANGULAR_SPEED_UNITS = ("deg/s", "rad/s", "rpm")
DEFAULT_UNIT = {"length": "m", "angle": "deg", "time": "s"}  # for a bare number in the command


class Query(str, enum.Enum):
    """Questions the node answers from live data, never from the model."""

    BATTERY = "battery"
    OBSTACLES = "obstacles"
    STATUS = "status"
    POSITION = "position"


class Memory(str, enum.Enum):
    """Answers that refer to earlier plans; the planner resolves them from its history."""

    AGAIN = "again"
    UNDO = "undo"
    CONTINUE = "continue"


class Reason(str, enum.Enum):
    """Why a command gets a reply and no motion."""

    OFFTASK = "offtask"  # "rotate the PDF by 90 degrees"
    NEGATED = "negated"  # "don't go forward"
    HYPOTHETICAL = "hypothetical"  # "what would happen if you drove 5 m?"
    QUESTION = "question"  # "how fast can you go?"
    GREETING = "greeting"  # "hello", "thanks"
    UNCLEAR = "unclear"  # gibberish, or a motion the words do not pin down


REPLIES = {
    Reason.OFFTASK: "I only drive this robot: tell me a distance, an angle, a place, or ask about the "
                    "battery, obstacles or where I am.",
    Reason.NEGATED: "OK, I won't move.",
    Reason.HYPOTHETICAL: "I only move when asked to; I did not move.",
    Reason.QUESTION: "I can drive, turn, go to known places and report my battery, obstacles and position.",
    Reason.GREETING: "Hello! Tell me where to go, e.g. 'move forward 1 meter' or 'go to the kitchen'.",
    Reason.UNCLEAR: "I did not understand that as a motion, so I did not move.",
}
