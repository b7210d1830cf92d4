"""Seed tasks for the robot dataset: phrasing templates, value pools and the answer each one implies.

Every task samples a command (the user's words) and its compact answer (``core.parser``'s format)
from the same values, so the ground truth comes from code. The answer only restates the command:
direction normalised (clockwise -> right), numbers copied as digits with a short unit; the parser
does the arithmetic (duration = distance / speed) with the configured default speeds.

Generalisation is measured by holding out, for the test split, whole phrasing templates (the
``TEST`` lists) and value pools (``Pool.test``): a test command never reuses a training template
together with training values.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

# The course's five seed instructions (Day 32), kept verbatim as training templates.
COURSE_SEEDS = (
    "Move the robot forward 2 meters",
    "What is your battery level?",
    "Navigate to the charging station",
    "Rotate 90 degrees clockwise",
    "Report any obstacles",
)

NUMBER_WORDS = {
    "1": "one", "2": "two", "3": "three", "4": "four", "5": "five", "6": "six", "7": "seven", "8": "eight",
    "9": "nine", "10": "ten", "12": "twelve", "15": "fifteen", "20": "twenty", "30": "thirty", "45": "forty-five",
    "60": "sixty", "90": "ninety",
}


@dataclass(frozen=True)
class Pool:
    """Values of one unit as the command writes them; ``test`` values never appear in training."""

    unit: str  # the unit the answer writes
    words: tuple[str, ...]  # how a command may spell it (plural forms; singular added for "1")
    singular: tuple[str, ...]
    train: tuple[str, ...]
    test: tuple[str, ...]


LENGTH = (
    Pool("m", ("meters", "metres", "m", "meters"), ("meter", "metre", "m"),
         ("1", "2", "3", "4", "5", "6", "8", "10", "0.5", "1.5", "2.5", "0.3", "0.8", "1.2", "12"),
         ("0.7", "1.8", "2.2", "3.5", "4.5", "7", "0.25", "1.25", "9")),
    Pool("cm", ("centimeters", "cm", "centimetres"), ("centimeter",),
         ("10", "20", "25", "30", "50", "75", "80", "100", "150"), ("15", "35", "40", "60", "120")),
    Pool("mm", ("millimeters", "mm"), ("millimeter",), ("100", "200", "250", "500"), ("300", "750")),
    Pool("ft", ("feet", "ft"), ("foot",), ("1", "2", "3", "5", "10"), ("4", "6", "8")),
    Pool("in", ("inches",), ("inch",), ("6", "12", "18", "24"), ("10", "30")),
)
ANGLE = (
    Pool("deg", ("degrees", "deg", "degrees", "°"), ("degree",),
         ("10", "15", "20", "30", "45", "60", "90", "120", "135", "180", "270", "360"),
         ("25", "40", "75", "100", "150", "200")),
    Pool("rad", ("radians", "rad"), ("radian",), ("0.5", "1", "1.5", "2", "3", "3.14"), ("0.8", "1.2", "2.5")),
)
LINEAR_SPEED = (
    Pool("m/s", ("m/s", "meters per second", "m/s"), ("meter per second",),
         ("0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.8", "1"), ("0.15", "0.25", "0.7")),
    Pool("cm/s", ("cm/s", "centimeters per second"), ("centimeter per second",), ("10", "20", "30", "50"),
         ("15", "25")),
)
ANGULAR_SPEED = (
    Pool("rad/s", ("rad/s", "radians per second"), ("radian per second",), ("0.2", "0.3", "0.5", "0.8", "1"),
         ("0.4", "0.6")),
    Pool("deg/s", ("deg/s", "degrees per second"), ("degree per second",), ("10", "20", "30", "45"), ("15", "60")),
)
TIME = (
    Pool("s", ("seconds", "s", "secs", "seconds"), ("second",), ("1", "2", "3", "4", "5", "10"), ("6", "7", "8")),
)

FORWARD = ("forward", "ahead", "forwards", "straight ahead", "forward")
BACKWARD = ("backward", "back", "backwards", "in reverse", "backward")
LEFT = ("left", "to the left", "counterclockwise", "counter-clockwise", "anticlockwise", "left")
RIGHT = ("right", "to the right", "clockwise", "right")


@dataclass
class Sample:
    """One generated command: its text, the answer, and where it came from."""

    task: str
    template: str  # "<task>/<n>": the phrasing template id
    held_template: bool
    held_values: bool
    user: str
    answer: str
    history: list[dict] = field(default_factory=list)


class Sampler:
    """Draws values from the training or the held-out pools."""

    def __init__(self, rng: random.Random, held_values: bool):
        self.rng = rng
        self.held = held_values
        self.used_held = False

    def value(self, pools: tuple[Pool, ...], weights: tuple[float, ...] | None = None,
              words_ok: bool = True) -> tuple[str, str, str]:
        """(text for the command, number for the answer, answer unit)."""
        pool = self.rng.choices(pools, weights=weights or [1.0] * len(pools))[0]
        use_held = self.held and self.rng.random() < 0.8
        number = self.rng.choice(pool.test if use_held else pool.train)
        self.used_held |= use_held
        unit_word = self.rng.choice(pool.singular if number == "1" else pool.words)
        shown = number
        if words_ok and number in NUMBER_WORDS and self.rng.random() < 0.2:
            shown = NUMBER_WORDS[number]
        sep = "" if unit_word in ("°",) or (unit_word in ("m", "cm", "mm", "ft") and self.rng.random() < 0.3) else " "
        if shown != number:
            sep = " "
        if unit_word == "°" and shown != number:
            unit_word = "degrees"
        return f"{shown}{sep}{unit_word}", number, pool.unit


def _pick(rng: random.Random, options) -> str:
    return rng.choice(options)


# ---------------------------------------------------------------- tasks
# Each task: (train templates, test templates, build(sampler, template) -> (user, answer)).
# Slots: {dir} direction phrase, {q} distance/angle, {v} speed, {t} time, {ld}/{ad} arc directions.

MOVE_TRAIN = (
    "Move the robot {dir} {q}", "Move {dir} {q}", "Go {dir} {q}", "Drive {dir} {q}", "Please move {dir} {q}",
    "Can you drive {dir} {q}?", "{Dir} {q}", "Roll {dir} {q}, please", "I need you to go {dir} {q}",
    "Travel {q} {dir}", "Move {q} {dir}", "Drive the robot {q} {dir}", "Go {q} {dir} please",
    "Drive {dir} for {q}", "Keep going {dir} for {q}", "Proceed {dir} {q}", "Scoot {dir} {q}", "{Dir} by {q}",
    "Roll the robot {q} {dir}",
)
MOVE_TEST = ("Could you head {dir} about {q}?", "Make the robot travel {dir} by {q}", "Take the robot {q} {dir}",
             "Shift {dir} {q}")
MOVE_SPEED_TRAIN = (
    "Move {dir} {q} at {v}", "Drive {dir} {q} at a speed of {v}", "Go {q} {dir} at {v}",
    "Move the robot {dir} {q} with speed {v}", "At {v}, drive {dir} {q}", "Drive {dir} {q}, going {v}",
    "Go {dir} for {q} at {v}", "Travel {q} {dir} with a speed of {v}",
)
MOVE_SPEED_TEST = ("Travel {dir} {q}, speed {v}", "Head {dir} for {q} going {v}")
MOVE_TIME_TRAIN = (
    "Drive {dir} for {t}", "Move {dir} for {t}", "Go {dir} for {t}", "Keep moving {dir} for {t}",
    "Roll {dir} for {t}",
)
MOVE_TIME_TEST = ("Head {dir} for {t}", "Move the robot {dir} for a duration of {t}")
MOVE_PLAIN_TRAIN = ("Move {dir}", "Go {dir}", "Drive {dir}", "Move the robot {dir}", "{Dir}!")
MOVE_PLAIN_TEST = ("Head {dir}", "Start moving {dir}")
BACKUP_TRAIN = ("Back up {q}", "Reverse {q}", "Back up by {q}")
BACKUP_TEST = ("Back the robot up {q}",)

TURN_TRAIN = (
    "Rotate {q} {dir}", "Turn {dir} {q}", "Turn {q} {dir}", "Rotate {dir} by {q}", "Spin {dir} {q}",
    "Please turn {dir} {q}", "Rotate the robot {q} {dir}", "Can you turn {q} {dir}?", "Turn {dir} by {q}",
    "Rotate by {q} {dir}", "Spin {q} {dir}", "Twist {dir} {q}", "Turn the robot {dir} {q}",
)
TURN_TEST = ("Pivot {dir} {q}", "Swing {q} {dir}", "Make the robot face {q} further {dir}")
TURN_SPEED_TRAIN = ("Turn {dir} {q} at {v}", "Rotate {q} {dir} at {v}", "Spin {dir} {q} with speed {v}",
                    "Rotate {dir} {q}, rotating at {v}", "At {v}, turn {q} {dir}")
TURN_SPEED_TEST = ("Pivot {dir} {q}, rate {v}",)
TURN_TIME_TRAIN = ("Spin {dir} for {t}", "Turn {dir} for {t}", "Rotate {dir} for {t}")
TURN_TIME_TEST = ("Keep turning {dir} for {t}",)
TURN_PLAIN_TRAIN = ("Turn {dir}", "Rotate {dir}", "Spin {dir}")
TURN_PLAIN_TEST = ("Pivot {dir}",)
# (command, answer); {dir} is "left"/"right" phrases from LEFT/RIGHT.
SPECIAL_TURN_TRAIN = (
    ("Make a quarter turn {dir}", "turn {lr} 90 deg"), ("Do a quarter turn {dir}", "turn {lr} 90 deg"),
    ("Turn around", "turn left 180 deg"), ("Do a half turn {dir}", "turn {lr} 180 deg"),
    ("Spin around once {dir}", "turn {lr} 360 deg"), ("Do a full circle {dir}", "turn {lr} 360 deg"),
    ("Make a full rotation {dir}", "turn {lr} 360 deg"), ("Turn all the way around", "turn left 180 deg"),
    ("Do a complete turn {dir}", "turn {lr} 360 deg"), ("Make a U-turn", "turn left 180 deg"),
)
SPECIAL_TURN_TEST = (("Face the other way", "turn left 180 deg"), ("Rotate a quarter turn {dir}", "turn {lr} 90 deg"),
                     ("Do one full rotation {dir}", "turn {lr} 360 deg"))
ARC_TRAIN = (
    "Drive {ld} {q} while turning {ad} {a}", "Move {ld} {q} and turn {ad} {a} at the same time",
    "Arc {ad} {a} over {q} {ld}", "Curve {ad} {a} while going {ld} {q}", "Go {ld} {q}, curving {a} {ad}",
    "Drive an arc {ld} {q} bending {ad} {a}", "Turn {ad} {a} while driving {ld} {q}",
)
ARC_TEST = ("Follow an arc {ld} {q}, turning {a} {ad}",)

STOP_TRAIN = ("Stop", "Stop!", "Stop the robot", "Halt", "Emergency stop", "Freeze", "Stop moving",
              "Please stop now", "Stop right there", "Hold it, stop", "Brake", "Cease all motion", "Halt now",
              "Stop the motion", "End the motion", "Cut the motors", "Don't move")
STOP_TEST = ("Stop immediately!", "Come to a halt", "Kill the motion")
QUERY = {
    "battery": (("What is your battery level?", "Battery status?", "How much charge is left?",
                 "What's the battery percentage?", "Check your battery", "How is your battery doing?",
                 "Report the battery level", "Do you need charging?", "Battery level please"),
                ("How full is your battery?", "Tell me the remaining charge")),
    "obstacles": (("Report any obstacles", "Report obstacles", "Are there any obstacles ahead?",
                   "Is the path clear?", "What is in front of you?", "Do you see any obstacles?",
                   "Check for obstacles", "Anything blocking your way?", "How far is the nearest obstacle?",
                   "Is anything blocking you?", "Any obstacles near you?", "Is the way ahead free?"),
                  ("Is anything in the way?", "Scan for obstacles and tell me")),
    "status": (("What is your status?", "Where are you?", "Report your position", "Status report",
                "Are you moving?", "Give me a status update", "What are you doing right now?",
                "What's your position?", "Report your state", "Where is the robot now?"),
               ("Tell me your current state", "How are you positioned?")),
}
PLACES = ("the charging station", "the kitchen", "the dock", "the door", "room 12", "the lab", "the exit",
          "the loading bay", "my desk", "the living room", "the elevator")
NAV_TRAIN = ("Navigate to {p}", "Go to {p}", "Drive to {p}", "Take me to {p}", "Find {p}", "Return to {p}",
             "Head over to {p}")
NAV_TEST = ("Bring the robot to {p}", "Can you get to {p}?")
NAV_ANSWER = "reply I cannot navigate to places yet; tell me a distance or an angle."
OFF_TASK = (
    ("What's the capital of France?", "Tell me a joke", "Write a poem about the sea", "What is 2 plus 2?",
     "Translate 'hello' into Spanish", "Who won the world cup?", "Summarise this article for me",
     "What is the weather today?", "Recommend a good book", "How do I bake bread?", "Sing a song",
     "What's the meaning of life?", "Explain quantum physics", "Order me a pizza", "Set an alarm for 7 am",
     "Pick up the red cup", "Open the door", "Make me coffee", "Clean the room", "Call my mother"),
    ("Write an essay on climate change", "What year is it?", "Grab the bottle on the table",
     "Send an email to Bob"),
)
OFF_TASK_ANSWER = "reply I can only drive the robot: tell me how far to move or turn."
GREETINGS = (("Hello", "Hi there", "Good morning", "Hey robot", "Thanks!", "Thank you", "Who are you?",
              "What can you do?", "Help"),
             ("Good evening", "What are you able to do?"))
GREETING_ANSWER = "reply Hello! I drive the robot: ask me to move, turn, stop, or report battery and obstacles."
AGAIN = (("Do that again", "Again", "Repeat that", "One more time", "Do it again please"),
         ("Same again, please", "Repeat the last command"))


def _dir_linear(rng: random.Random) -> tuple[str, str]:
    if rng.random() < 0.6:
        return _pick(rng, FORWARD), "forward"
    return _pick(rng, BACKWARD), "backward"


def _dir_angular(rng: random.Random) -> tuple[str, str]:
    if rng.random() < 0.5:
        return _pick(rng, LEFT), "left"
    return _pick(rng, RIGHT), "right"


def _special_distance(rng: random.Random) -> tuple[str, str, str] | None:
    """'half a meter', 'a meter', 'a foot' now and then."""
    if rng.random() < 0.06:
        return _pick(rng, (("half a meter", "0.5", "m"), ("a meter", "1", "m"), ("one meter", "1", "m"),
                           ("a foot", "1", "ft"), ("half a metre", "0.5", "m")))
    return None


def _fill(template: str, **slots: str) -> str:
    text = template.format(**{k: v for k, v in slots.items()},
                           Dir=slots.get("dir", "").capitalize() if "dir" in slots else "")
    return text[0].upper() + text[1:]


def _quantities(s: Sampler, template: str, answer: str, slots: dict, amount: tuple[str, str, str] | None,
                with_time: bool, speed_pools: tuple[Pool, ...] | None) -> tuple[str, str]:
    """Fill distance/angle ({q}), time ({t}) and speed ({v}) into a command and its answer, in that order."""
    if amount is not None:
        slots["q"], num, unit = amount
        answer += f" {num} {unit}"
    if with_time:
        slots["t"], num, unit = s.value(TIME)
        answer += f" for {num} {unit}"
    if speed_pools is not None:
        slots["v"], num, unit = s.value(speed_pools, (3, 1), words_ok=False)
        answer += f" at {num} {unit}"
    return _fill(template, **slots), answer


def build_task(task: str, rng: random.Random, held_template: bool, held_values: bool) -> Sample:
    """One sample of ``task`` from its train or test templates and value pools."""
    s = Sampler(rng, held_values)

    def choose(train: tuple, test: tuple) -> tuple[int, object]:
        pool, base = (test, len(train)) if held_template else (train, 0)
        i = rng.randrange(len(pool))
        return base + i, pool[i]

    if task in ("move", "move_speed", "move_time", "move_plain", "backup"):
        tables = {"move": (MOVE_TRAIN, MOVE_TEST), "move_speed": (MOVE_SPEED_TRAIN, MOVE_SPEED_TEST),
                  "move_time": (MOVE_TIME_TRAIN, MOVE_TIME_TEST), "move_plain": (MOVE_PLAIN_TRAIN, MOVE_PLAIN_TEST),
                  "backup": (BACKUP_TRAIN, BACKUP_TEST)}
        idx, tpl = choose(*tables[task])
        dir_text, dir_word = _dir_linear(rng)
        if task == "backup":
            dir_text, dir_word = "", "backward"
        amount = None
        if task in ("move", "move_speed", "backup"):
            special = _special_distance(rng) if not s.held else None
            amount = special if special else s.value(LENGTH, (6, 2, 1, 1.5, 1))
        user, answer = _quantities(s, tpl, f"move {dir_word}", {"dir": dir_text}, amount, task == "move_time",
                                   LINEAR_SPEED if task == "move_speed" else None)
    elif task in ("turn", "turn_speed", "turn_time", "turn_plain"):
        tables = {"turn": (TURN_TRAIN, TURN_TEST), "turn_speed": (TURN_SPEED_TRAIN, TURN_SPEED_TEST),
                  "turn_time": (TURN_TIME_TRAIN, TURN_TIME_TEST), "turn_plain": (TURN_PLAIN_TRAIN, TURN_PLAIN_TEST)}
        idx, tpl = choose(*tables[task])
        dir_text, dir_word = _dir_angular(rng)
        amount = s.value(ANGLE, (4, 1)) if task in ("turn", "turn_speed") else None
        user, answer = _quantities(s, tpl, f"turn {dir_word}", {"dir": dir_text}, amount, task == "turn_time",
                                   ANGULAR_SPEED if task == "turn_speed" else None)
    elif task == "turn_special":
        idx, (tpl, ans) = choose(SPECIAL_TURN_TRAIN, SPECIAL_TURN_TEST)
        dir_text, dir_word = _dir_angular(rng)
        user = _fill(tpl, dir=dir_text)
        answer = ans.format(lr=dir_word)
    elif task == "arc":
        idx, tpl = choose(ARC_TRAIN, ARC_TEST)
        ld_text, ld = _dir_linear(rng)
        ad_text, ad = _dir_angular(rng)
        q, dist, dist_u = s.value(LENGTH[:2], (3, 1))
        a, ang, ang_u = s.value(ANGLE[:1])
        user = _fill(tpl, ld=ld_text, ad=ad_text, q=q, a=a)
        answer = f"arc {ld} {dist} {dist_u} {ad} {ang} {ang_u}"
    elif task == "stop":
        idx, user = choose(STOP_TRAIN, STOP_TEST)
        answer = "stop"
    elif task.startswith("query_"):
        what = task.split("_", 1)[1]
        idx, user = choose(*QUERY[what])
        answer = f"query {what}"
    elif task == "navigate":
        idx, tpl = choose(NAV_TRAIN, NAV_TEST)
        user = _fill(tpl, p=_pick(rng, PLACES))
        answer = NAV_ANSWER
    elif task == "off_task":
        idx, user = choose(*OFF_TASK)
        answer = OFF_TASK_ANSWER
    elif task == "greeting":
        idx, user = choose(*GREETINGS)
        answer = GREETING_ANSWER
    else:
        raise ValueError(f"unknown task {task!r}")
    return Sample(task, f"{task}/{idx}", held_template, s.used_held, user, answer)


# Relative frequency of each task in the dataset.
TASK_WEIGHTS = {
    "move": 16, "move_speed": 6, "move_time": 5, "move_plain": 2, "backup": 2,
    "turn": 14, "turn_speed": 5, "turn_time": 4, "turn_plain": 2, "turn_special": 3, "arc": 8,
    "stop": 3, "query_battery": 3, "query_obstacles": 3, "query_status": 2,
    "navigate": 3, "off_task": 4, "greeting": 2,
}
# Tasks whose samples carry numbers: their test examples may also come from held-out values.
VALUED_TASKS = {"move", "move_speed", "move_time", "backup", "turn", "turn_speed", "turn_time", "arc"}
