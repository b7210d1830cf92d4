"""Seed tasks for the robot dataset: phrasing templates, value pools and the answer each one implies.

Every task samples a command (the user's words) and its compact answer (``core.parser``'s format)
from the same values, so the ground truth comes from code. The answer only restates the command:
the direction word as the command says it ("clockwise" stays "clockwise", "to the left" becomes
"left", a misspelt word is written correctly), numbers copied as digits with a short unit; the
parser maps the words to signs and does the arithmetic (duration = distance / speed) with the
configured default speeds. Copying is what a 135M model does reliably: mapping "clockwise" to
"right" was the first adapter's most common arc error.

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

# (as the command says it, as the answer writes it): the answer keeps the command's own word.
FORWARD = (("forward", "forward"), ("ahead", "ahead"), ("forwards", "forwards"), ("straight ahead", "ahead"),
           ("forward", "forward"))
BACKWARD = (("backward", "backward"), ("back", "back"), ("backwards", "backwards"), ("in reverse", "reverse"),
            ("backward", "backward"))
LEFT = (("left", "left"), ("to the left", "left"), ("counterclockwise", "counterclockwise"),
        ("counter-clockwise", "counter-clockwise"), ("anticlockwise", "anticlockwise"),
        ("anti-clockwise", "anti-clockwise"), ("left", "left"))
RIGHT = (("right", "right"), ("to the right", "right"), ("clockwise", "clockwise"), ("right", "right"))


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

# The TEST lists are unchanged since the first adapter and never trained on; the TRAIN phrasings added after
# that adapter's error analysis avoid the test lists' verbs and frames.
MOVE_TRAIN = (
    "Move the robot {dir} {q}", "Move {dir} {q}", "Go {dir} {q}", "Drive {dir} {q}", "Please move {dir} {q}",
    "Can you drive {dir} {q}?", "{Dir} {q}", "Roll {dir} {q}, please", "I need you to go {dir} {q}",
    "Travel {q} {dir}", "Move {q} {dir}", "Drive the robot {q} {dir}", "Go {q} {dir} please",
    "Drive {dir} for {q}", "Keep going {dir} for {q}", "Proceed {dir} {q}", "Scoot {dir} {q}", "{Dir} by {q}",
    "Roll the robot {q} {dir}",
    "Creep {dir} {q}", "Inch {dir} {q}", "Nudge the robot {dir} {q}", "Step {dir} {q}", "Slide {dir} {q}",
    "Move yourself {q} {dir}", "Let's go {dir} {q}", "Would you drive {q} {dir}?", "Please roll {q} {dir}",
    "Cover {q} {dir}", "Go {dir} a distance of {q}", "Get moving {dir} {q}", "Drive exactly {q} {dir}",
    "Could you move {dir} by {q}?", "Run {dir} {q}",
)
MOVE_TEST = ("Could you head {dir} about {q}?", "Make the robot travel {dir} by {q}", "Take the robot {q} {dir}",
             "Shift {dir} {q}")
MOVE_SPEED_TRAIN = (
    "Move {dir} {q} at {v}", "Drive {dir} {q} at a speed of {v}", "Go {q} {dir} at {v}",
    "Move the robot {dir} {q} with speed {v}", "At {v}, drive {dir} {q}", "Drive {dir} {q}, going {v}",
    "Go {dir} for {q} at {v}", "Travel {q} {dir} with a speed of {v}",
    "Roll {dir} {q} at a rate of {v}", "Creep {dir} {q} at {v}", "Drive {q} {dir} at only {v}",
    "With a speed of {v}, go {dir} {q}", "Move {q} {dir}, speed: {v}", "Go {dir} {q} moving at {v}",
)
MOVE_SPEED_TEST = ("Travel {dir} {q}, speed {v}", "Head {dir} for {q} going {v}")
MOVE_TIME_TRAIN = (
    "Drive {dir} for {t}", "Move {dir} for {t}", "Go {dir} for {t}", "Keep moving {dir} for {t}",
    "Roll {dir} for {t}", "Creep {dir} for {t}", "Drive {dir} during {t}", "Go {dir} for a period of {t}",
    "Proceed {dir} for {t}", "For {t}, drive {dir}",
)
MOVE_TIME_TEST = ("Head {dir} for {t}", "Move the robot {dir} for a duration of {t}")
MOVE_PLAIN_TRAIN = ("Move {dir}", "Go {dir}", "Drive {dir}", "Move the robot {dir}", "{Dir}!", "Roll {dir}",
                    "Proceed {dir}", "Keep going {dir}", "Creep {dir}", "Get going {dir}", "Drive {dir} please")
MOVE_PLAIN_TEST = ("Head {dir}", "Start moving {dir}")
# (template, the answer's direction word): a backing-up verb carries its own direction.
BACKUP_TRAIN = (("Back up {q}", "back"), ("Reverse {q}", "reverse"), ("Back up by {q}", "back"),
                ("Back off {q}", "back"), ("Back away {q}", "back"), ("Retreat {q}", "back"),
                ("Reverse the robot {q}", "reverse"), ("Reverse by {q}", "reverse"), ("Back it up {q}", "back"))
BACKUP_TEST = (("Back the robot up {q}", "back"),)

TURN_TRAIN = (
    "Rotate {q} {dir}", "Turn {dir} {q}", "Turn {q} {dir}", "Rotate {dir} by {q}", "Spin {dir} {q}",
    "Please turn {dir} {q}", "Rotate the robot {q} {dir}", "Can you turn {q} {dir}?", "Turn {dir} by {q}",
    "Rotate by {q} {dir}", "Spin {q} {dir}", "Twist {dir} {q}", "Turn the robot {dir} {q}",
    "Swivel {dir} {q}", "Yaw {q} {dir}", "Rotate in place {q} {dir}", "Spin in place {dir} {q}",
    "Turn yourself {q} {dir}", "Change your heading by {q} {dir}", "Adjust the heading {dir} by {q}",
    "Revolve {q} {dir}", "Could you rotate {dir} {q}?", "I want you to turn {q} {dir}", "Rotate yourself {dir} {q}",
    "Turn on the spot {q} {dir}", "Wheel {dir} {q}",
)
TURN_TEST = ("Pivot {dir} {q}", "Swing {q} {dir}", "Make the robot face {q} further {dir}")
TURN_SPEED_TRAIN = ("Turn {dir} {q} at {v}", "Rotate {q} {dir} at {v}", "Spin {dir} {q} with speed {v}",
                    "Rotate {dir} {q}, rotating at {v}", "At {v}, turn {q} {dir}", "Swivel {q} {dir} at {v}",
                    "Yaw {dir} {q} at a rate of {v}", "Turn {q} {dir}, spinning at {v}")
TURN_SPEED_TEST = ("Pivot {dir} {q}, rate {v}",)
TURN_TIME_TRAIN = ("Spin {dir} for {t}", "Turn {dir} for {t}", "Rotate {dir} for {t}", "Swivel {dir} for {t}",
                   "Yaw {dir} for {t}", "Rotate in place {dir} for {t}", "For {t}, spin {dir}")
TURN_TIME_TEST = ("Keep turning {dir} for {t}",)
TURN_PLAIN_TRAIN = ("Turn {dir}", "Rotate {dir}", "Spin {dir}", "Swivel {dir}", "Yaw {dir}", "Start rotating {dir}",
                    "Rotate yourself {dir}", "Spin in place {dir}", "Turn {dir} please")
TURN_PLAIN_TEST = ("Pivot {dir}",)
# (command, answer); {dir} is a LEFT/RIGHT phrase, {lr} its answer word; no direction given = left.
SPECIAL_TURN_TRAIN = (
    ("Make a quarter turn {dir}", "turn {lr} 90 deg"), ("Do a quarter turn {dir}", "turn {lr} 90 deg"),
    ("Turn around", "turn left 180 deg"), ("Do a half turn {dir}", "turn {lr} 180 deg"),
    ("Spin around once {dir}", "turn {lr} 360 deg"), ("Do a full circle {dir}", "turn {lr} 360 deg"),
    ("Make a full rotation {dir}", "turn {lr} 360 deg"), ("Turn all the way around", "turn left 180 deg"),
    ("Do a complete turn {dir}", "turn {lr} 360 deg"), ("Make a U-turn", "turn left 180 deg"),
    ("Quarter turn {dir}", "turn {lr} 90 deg"), ("Make a quarter rotation {dir}", "turn {lr} 90 deg"),
    ("Spin a quarter of a turn {dir}", "turn {lr} 90 deg"), ("Make a half rotation {dir}", "turn {lr} 180 deg"),
    ("Spin half a turn {dir}", "turn {lr} 180 deg"), ("Turn halfway around {dir}", "turn {lr} 180 deg"),
    ("Do a full spin {dir}", "turn {lr} 360 deg"), ("Make one full circle {dir}", "turn {lr} 360 deg"),
    ("Spin all the way around {dir}", "turn {lr} 360 deg"), ("Make a complete rotation {dir}", "turn {lr} 360 deg"),
    ("Do a 360 {dir}", "turn {lr} 360 deg"), ("Turn a full revolution {dir}", "turn {lr} 360 deg"),
    ("Make a three-quarter turn {dir}", "turn {lr} 270 deg"), ("About face", "turn left 180 deg"),
    ("Turn to face backwards", "turn left 180 deg"), ("Look behind you", "turn left 180 deg"),
    ("Do a 180", "turn left 180 deg"), ("Spin a whole turn {dir}", "turn {lr} 360 deg"),
)
SPECIAL_TURN_TEST = (("Face the other way", "turn left 180 deg"), ("Rotate a quarter turn {dir}", "turn {lr} 90 deg"),
                     ("Do one full rotation {dir}", "turn {lr} 360 deg"))
ARC_TRAIN = (
    "Drive {ld} {q} while turning {ad} {a}", "Move {ld} {q} and turn {ad} {a} at the same time",
    "Arc {ad} {a} over {q} {ld}", "Curve {ad} {a} while going {ld} {q}", "Go {ld} {q}, curving {a} {ad}",
    "Drive an arc {ld} {q} bending {ad} {a}", "Turn {ad} {a} while driving {ld} {q}",
    "Move {ld} {q} while rotating {a} {ad}", "Go {ld} {q} and bend {a} {ad}", "Drive {q} {ld}, steering {a} {ad}",
    "Veer {ad} {a} as you drive {ld} {q}", "While driving {ld} {q}, turn {a} {ad}",
    "Curve {ld} {q}, rotating {ad} by {a}", "Drive a curve of {q} {ld} that turns {a} {ad}",
    "Go {q} {ld} while turning {a} {ad}",
)
ARC_TEST = ("Follow an arc {ld} {q}, turning {a} {ad}",)

STOP_TRAIN = ("Stop", "Stop!", "Stop the robot", "Halt", "Emergency stop", "Freeze", "Stop moving",
              "Please stop now", "Stop right there", "Hold it, stop", "Brake", "Cease all motion", "Halt now",
              "Stop the motion", "End the motion", "Cut the motors", "Don't move",
              "Abort", "Abort the motion", "Stand still", "Stay where you are", "Hold still", "Hit the brakes",
              "Wait, stop!", "Quit moving", "Stop all motion", "Enough, stop", "No no no, stop", "Stop the wheels",
              "Pause the motion", "Stop driving", "Stop turning", "Cancel the motion", "Emergency halt")
STOP_TEST = ("Stop immediately!", "Come to a halt", "Kill the motion")
QUERY = {
    "battery": (("What is your battery level?", "Battery status?", "How much charge is left?",
                 "What's the battery percentage?", "Check your battery", "How is your battery doing?",
                 "Report the battery level", "Do you need charging?", "Battery level please",
                 "How much power do you have left?", "What's your charge level?", "Are you running low on power?",
                 "Battery?", "What is the remaining battery?", "Show me the battery status",
                 "How much energy is left?", "Is your battery low?", "What percentage is your battery at?",
                 "How much charge remains?", "Give me the battery voltage"),
                ("How full is your battery?", "Tell me the remaining charge")),
    "obstacles": (("Report any obstacles", "Report obstacles", "Are there any obstacles ahead?",
                   "Is the path clear?", "What is in front of you?", "Do you see any obstacles?",
                   "Check for obstacles", "Anything blocking your way?", "How far is the nearest obstacle?",
                   "Is anything blocking you?", "Any obstacles near you?", "Is the way ahead free?",
                   "Any obstacles?", "What's around you?", "Is there something in front of you?",
                   "Check your surroundings", "Are you blocked?", "Can you see anything ahead?",
                   "What does the laser see?", "Any objects nearby?", "Is it safe to drive forward?"),
                  ("Is anything in the way?", "Scan for obstacles and tell me")),
    "status": (("What is your status?", "Where are you?", "Report your position", "Status report",
                "Are you moving?", "Give me a status update", "What are you doing right now?",
                "What's your position?", "Report your state", "Where is the robot now?",
                "Status?", "How fast are you going?", "Are you busy?", "What's your heading?", "Give me your pose",
                "Are you idle?", "What are your coordinates?", "Report status"),
               ("Tell me your current state", "How are you positioned?")),
}
PLACES = ("the charging station", "the kitchen", "the dock", "the door", "room 12", "the lab", "the exit",
          "the loading bay", "my desk", "the living room", "the elevator")
NAV_TRAIN = ("Navigate to {p}", "Go to {p}", "Drive to {p}", "Take me to {p}", "Find {p}", "Return to {p}",
             "Head over to {p}", "Move to {p}", "Drive over to {p}", "Please go to {p}", "Travel to {p}",
             "Make your way to {p}", "Park at {p}", "Dock at {p}", "Go back to {p}")
NAV_TEST = ("Bring the robot to {p}", "Can you get to {p}?")
NAV_ANSWER = "reply I cannot navigate to places yet; tell me a distance or an angle."
# Off-task requests, including ones that use motion words ("turn on", "back up my files").
OFF_TASK = (
    ("What's the capital of France?", "Tell me a joke", "Write a poem about the sea", "What is 2 plus 2?",
     "Translate 'hello' into Spanish", "Who won the world cup?", "Summarise this article for me",
     "What is the weather today?", "Recommend a good book", "How do I bake bread?", "Sing a song",
     "What's the meaning of life?", "Explain quantum physics", "Order me a pizza", "Set an alarm for 7 am",
     "Pick up the red cup", "Open the door", "Make me coffee", "Clean the room", "Call my mother",
     "Lift the box", "Carry my bag", "Hold this for me", "Push the chair", "Throw the ball", "Hand me the keys",
     "Put down the cup", "Fetch me a pen", "Close the window", "Press the button", "Water the plants",
     "Fold the laundry", "Turn on the lights", "Turn off the music", "Move my meeting to Friday",
     "Back up my files", "What day is it today?", "What time is it in Tokyo?", "Who are the Beatles?",
     "Write a story about a dragon", "Compose a haiku", "Draft a letter to my landlord", "Play some jazz",
     "How tall is Mount Everest?", "Give me a recipe for soup", "What's 15 times 3?", "Book a flight to Rome",
     "Show me the news", "Who invented the telephone?", "Text Alice that I'm late", "Wash the dishes",
     "Feed the cat", "Lock the front door", "What's the best programming language?"),
    ("Write an essay on climate change", "What year is it?", "Grab the bottle on the table",
     "Send an email to Bob"),
)
OFF_TASK_ANSWER = "reply I can only drive the robot: tell me how far to move or turn."
GREETINGS = (("Hello", "Hi there", "Good morning", "Hey robot", "Thanks!", "Thank you", "Who are you?",
              "What can you do?", "Help", "Hi", "Hey", "Good afternoon", "Nice to meet you", "How are you?",
              "Thanks a lot", "Cheers", "What are your capabilities?", "How can you help me?",
              "What commands do you understand?", "What do you do?"),
             ("Good evening", "What are you able to do?"))
GREETING_ANSWER = "reply Hello! I drive the robot: ask me to move, turn, stop, or report battery and obstacles."
AGAIN = (("Do that again", "Again", "Repeat that", "One more time", "Do it again please", "Repeat", "Once more",
          "Do the same thing", "Redo that", "Go again", "Again please", "Do it once more",
          "Repeat the previous action"),
         ("Same again, please", "Repeat the last command"))


# task -> (training templates, held-out test templates)
TEMPLATES = {
    "move": (MOVE_TRAIN, MOVE_TEST), "move_speed": (MOVE_SPEED_TRAIN, MOVE_SPEED_TEST),
    "move_time": (MOVE_TIME_TRAIN, MOVE_TIME_TEST), "move_plain": (MOVE_PLAIN_TRAIN, MOVE_PLAIN_TEST),
    "backup": (BACKUP_TRAIN, BACKUP_TEST), "turn": (TURN_TRAIN, TURN_TEST),
    "turn_speed": (TURN_SPEED_TRAIN, TURN_SPEED_TEST), "turn_time": (TURN_TIME_TRAIN, TURN_TIME_TEST),
    "turn_plain": (TURN_PLAIN_TRAIN, TURN_PLAIN_TEST), "turn_special": (SPECIAL_TURN_TRAIN, SPECIAL_TURN_TEST),
    "arc": (ARC_TRAIN, ARC_TEST), "stop": (STOP_TRAIN, STOP_TEST), "navigate": (NAV_TRAIN, NAV_TEST),
    "off_task": OFF_TASK, "greeting": GREETINGS, "again": AGAIN, **{f"query_{k}": v for k, v in QUERY.items()},
}


def _dir_linear(rng: random.Random) -> tuple[str, str]:
    """(phrase for the command, word for the answer)."""
    return _pick(rng, FORWARD if rng.random() < 0.6 else BACKWARD)


def _dir_angular(rng: random.Random) -> tuple[str, str]:
    return _pick(rng, LEFT if rng.random() < 0.5 else RIGHT)


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


def choose_template(rng: random.Random, task: str, held_template: bool) -> tuple[int, object]:
    """(template id, template) of ``task``: a held-out one for the test split, else a training one.

    Ids number the training templates first, then the held-out ones."""
    train, test = TEMPLATES[task]
    pool, base = (test, len(train)) if held_template else (train, 0)
    i = rng.randrange(len(pool))
    return base + i, pool[i]


def build_task(task: str, rng: random.Random, held_template: bool, held_values: bool) -> Sample:
    """One sample of ``task`` from its train or test templates and value pools."""
    s = Sampler(rng, held_values)
    if task not in TEMPLATES or task == "again":  # "again" needs a history: make_dataset builds it
        raise ValueError(f"unknown task {task!r}")
    idx, tpl = choose_template(rng, task, held_template)
    if task in ("move", "move_speed", "move_time", "move_plain", "backup"):
        dir_text, dir_word = _dir_linear(rng)
        if task == "backup":
            tpl, dir_word = tpl
            dir_text = ""
        amount = None
        if task in ("move", "move_speed", "backup"):
            special = _special_distance(rng) if not s.held else None
            amount = special if special else s.value(LENGTH, (6, 2, 1, 1.5, 1))
        user, answer = _quantities(s, tpl, f"move {dir_word}", {"dir": dir_text}, amount, task == "move_time",
                                   LINEAR_SPEED if task == "move_speed" else None)
    elif task in ("turn", "turn_speed", "turn_time", "turn_plain"):
        dir_text, dir_word = _dir_angular(rng)
        amount = s.value(ANGLE, (4, 1)) if task in ("turn", "turn_speed") else None
        user, answer = _quantities(s, tpl, f"turn {dir_word}", {"dir": dir_text}, amount, task == "turn_time",
                                   ANGULAR_SPEED if task == "turn_speed" else None)
    elif task == "turn_special":
        tpl, ans = tpl
        dir_text, dir_word = _dir_angular(rng)
        user = _fill(tpl, dir=dir_text)
        answer = ans.format(lr=dir_word)
    elif task == "arc":
        ld_text, ld = _dir_linear(rng)
        ad_text, ad = _dir_angular(rng)
        q, dist, dist_u = s.value(LENGTH[:2], (3, 1))
        a, ang, ang_u = s.value(ANGLE[:1])
        user = _fill(tpl, ld=ld_text, ad=ad_text, q=q, a=a)
        answer = f"arc {ld} {dist} {dist_u} {ad} {ang} {ang_u}"
    elif task == "stop":
        user, answer = tpl, "stop"
    elif task.startswith("query_"):
        user, answer = tpl, f"query {task.split('_', 1)[1]}"
    elif task == "navigate":
        user = _fill(tpl, p=_pick(rng, PLACES))
        answer = NAV_ANSWER
    elif task == "off_task":
        user, answer = tpl, OFF_TASK_ANSWER
    elif task == "greeting":
        user, answer = tpl, GREETING_ANSWER
    return Sample(task, f"{task}/{idx}", held_template, s.used_held, user, answer)


# Relative frequency of each task in the dataset.
TASK_WEIGHTS = {
    "move": 14, "move_speed": 6, "move_time": 5, "move_plain": 3, "backup": 3,
    "turn": 12, "turn_speed": 5, "turn_time": 4, "turn_plain": 3, "turn_special": 5, "arc": 10,
    "stop": 5, "query_battery": 4, "query_obstacles": 4, "query_status": 3,
    "navigate": 4, "off_task": 7, "greeting": 3,
}
# Tasks whose samples carry numbers: their test examples may also come from held-out values.
VALUED_TASKS = {"move", "move_speed", "move_time", "backup", "turn", "turn_speed", "turn_time", "arc"}
