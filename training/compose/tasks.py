"""One sampler per task: slots -> intent and its surface, then operators -> a ``Candidate``.

``TASKS`` maps a task name to (weight, sampler). The weights favour the hard classes: plans,
places, negations/hypotheticals/off-task, unit variety, speed with time, corrections.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from ros2_llm_controller.core.normalise import format_number, normalise, quantities

from . import surface as S
from .choice import Ctx
from .intents import NAMED, Arc, Circle, Fixed, GoTo, Intent, Move, Plan, Qty, Square, Step, Turn, Wait
from .operators import decorate, protected, reorder
from .quantities import sample, say

COURSE_SEEDS = (
    ("Move the robot forward 2 meters", "move forward 2 m"),
    ("What is your battery level?", "query battery"),
    ("Navigate to the charging station", "go to charging station"),
    ("Rotate 90 degrees clockwise", "turn clockwise 90 deg"),
    ("Report any obstacles", "query obstacles"),
)


@dataclass
class Candidate:
    task: str
    user: str
    intent: Intent
    trace: list[str]
    held: list[str]
    history: list[tuple[str, Intent]] = field(default_factory=list)

    @property
    def answer(self) -> str:
        return self.intent.answer()


@dataclass
class Said:
    """A step as chunks (head first) with the words the operators must keep."""

    chunks: list[str]
    step: Step
    keep: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return " ".join(c for c in self.chunks if c)


# ---------------------------------------------------------------- steps

def _dir(ctx: Ctx, axis: str, explicit: bool, sign: int | None = None) -> tuple[str, str]:
    """(phrase, answer word); no phrase now and then (the answer then says forward/left)."""
    if explicit or ctx.chance(0.85):
        return S.pick_dir(ctx, axis, sign)
    ctx.trace.append(f"dir.{axis}=none")
    return "", "forward" if axis == "linear" else "left"


def move(ctx: Ctx, mode: str, explicit: bool = False) -> Said:
    """mode: dist, time, speed_dist, speed_time, speed, plain, backup."""
    if mode == "backup":
        verb, word = ctx.pick("verb.backup", *S.BACKUP_VERBS)
        phrase = ""
    else:
        verb = ctx.pick("verb.move", *S.MOVE_VERBS)
        phrase, word = _dir(ctx, "linear", explicit)
    amount = time = speed = None
    chunks = []
    typed = None
    if mode in ("dist", "speed_dist", "backup"):
        amount = sample(ctx, "length")
        typed = say(ctx, amount)
        chunks.append(S.chunk(ctx, "chunk.length", S.LENGTH_CHUNK, typed))
    if mode in ("time", "speed_time"):
        time = sample(ctx, "time")
        chunks.append(S.chunk(ctx, "chunk.time", S.TIME_CHUNK, say(ctx, time)))
    if mode in ("speed_dist", "speed_time", "speed"):
        speed = sample(ctx, "linear_speed")
        chunks.append(S.chunk(ctx, "chunk.lspeed", S.LSPEED_CHUNK, say(ctx, speed)))
    head = f"{verb} {phrase}".strip()
    if phrase and amount and chunks[0] == typed and ctx.chance(0.25):
        head, chunks[0] = f"{verb} {chunks[0]}", phrase  # "go 2 m forward"
        ctx.trace.append("order=amount_first")
    return Said([head] + chunks, Move(word, amount, time, speed))


def turn(ctx: Ctx, mode: str, explicit: bool = False) -> Said:
    """mode: angle, time, rate_angle, rate_time, plain, named."""
    if mode == "named":
        return named_turn(ctx)
    verb = ctx.pick("verb.turn", *S.TURN_VERBS)
    phrase, word = _dir(ctx, "angular", explicit or mode == "plain")
    angle = time = rate = None
    chunks = []
    if mode in ("angle", "rate_angle"):
        angle = sample(ctx, "angle")
        chunks.append(S.chunk(ctx, "chunk.angle", S.ANGLE_CHUNK, say(ctx, angle)))
    if mode in ("time", "rate_time"):
        time = sample(ctx, "time")
        chunks.append(S.chunk(ctx, "chunk.time", S.TIME_CHUNK, say(ctx, time)))
    if mode in ("rate_angle", "rate_time"):
        rate = sample(ctx, "angular_speed")
        chunks.append(S.chunk(ctx, "chunk.aspeed", S.ASPEED_CHUNK, say(ctx, rate)))
    head = f"{verb} {phrase}".strip()
    if phrase and angle and ctx.chance(0.3):
        head, chunks[0] = f"{verb} {chunks[0]}", phrase  # "rotate 90 degrees clockwise"
        ctx.trace.append("order=amount_first")
    return Said([head] + chunks, Turn(word, angle, time, rate))


def named_turn(ctx: Ctx, explicit: bool = False) -> Said:
    """"turn around", "do a 360", ...; ``explicit`` (inside plans): mostly with a direction word, but
    people also write "drive 2 m and turn around" (then, as alone, the turn goes left)."""
    tables = S.NAMED_TURNS
    with_dir = explicit and ctx.chance(0.6)
    if with_dir:
        tables = tuple(tuple(o for o in t if "{d}" in o[0]) for t in tables)
    phrase, key = ctx.pick("named_turn", *tables)
    d, word = ("", "left")
    if "{d}" in phrase and (with_dir or ctx.chance(0.5)):
        d, word = S.pick_dir(ctx, "angular")
        d = " " + d
    text = phrase.format(d=d)
    angle = NAMED[key]
    for q in quantities(normalise(text)):  # "a quarter turn" -> "0.25 rev": copy it
        if q.kind == "angle":
            angle = Qty(q.value, q.unit)
        elif q.kind == "number":
            angle = Qty(q.value, "deg")
        break
    return Said([text], Turn(word, angle))


def arc(ctx: Ctx) -> Said:
    frame = ctx.pick("frame.arc", *S.ARC_FRAMES)
    lphrase, lword = S.pick_dir(ctx, "linear")
    aphrase, aword = S.pick_dir(ctx, "angular")
    length, angle = sample(ctx, "length", ("m", "cm", "ft")), sample(ctx, "angle", ("deg",))
    text = frame.format(ld=lphrase, ad=aphrase, q=say(ctx, length), a=say(ctx, angle))
    return Said([text], Arc(lword, length, aword, angle))


def circle(ctx: Ctx) -> Said:
    frame = ctx.pick("frame.circle", *S.CIRCLE_FRAMES)
    d, word = "", "left"
    if ctx.chance(0.6):
        phrase, word = S.pick_dir(ctx, "angular")
        d = ctx.pick("circle.dir", *S.CIRCLE_DIR).format(d=phrase.removeprefix("to the "))
    radius = sample(ctx, "length", ("m", "cm", "ft")) if "{r}" in frame else None
    text = frame.format(d=d, r=say(ctx, radius) if radius else "")
    return Said([text], Circle(word, radius))


def partial_circle(ctx: Ctx) -> Said:
    frame = ctx.pick("frame.partial_circle", *S.PARTIAL_CIRCLE_FRAMES)
    part = ctx.pick("circle.part", *S.CIRCLE_PARTS)
    d, word = "", "left"
    if ctx.chance(0.8):
        phrase, word = S.pick_dir(ctx, "angular")
        d = " " + phrase
    radius = sample(ctx, "length", ("m", "cm", "ft")) if "{r}" in frame else None
    text = frame.format(f=part, d=d, r=say(ctx, radius) if radius else "")
    if part == "semi":
        text = text.replace("semi circle", "semicircle")
    sweep = next(Qty(q.value, q.unit) for q in quantities(normalise(text)) if q.kind == "angle")
    return Said([text], Circle(word, radius, sweep=sweep))


def square(ctx: Ctx) -> Said:
    frame = ctx.pick("frame.square", *S.SQUARE_FRAMES)
    side = sample(ctx, "length", ("m", "cm", "ft"))
    d, word = "", None
    if ctx.chance(0.3):
        phrase, word = S.pick_dir(ctx, "angular")
        d = ctx.pick("square.dir", *S.SQUARE_DIR).format(d=phrase.removeprefix("to the "))
    typed = say(ctx, side, plain=True)
    return Said([frame.format(s=typed, d=d)], Square(side, word))


def wait(ctx: Ctx) -> Said:
    frame = ctx.pick("frame.wait", *S.WAIT_FRAMES)
    t = sample(ctx, "time", ("s",))
    return Said([frame.format(t=say(ctx, t))], Wait(t))


def place(ctx: Ctx, kind: str | None = None) -> tuple[str, str]:
    """(phrase in the command, the answer's words)."""
    kind = kind or ctx.weighted("place.kind", (("known", 7), ("start", 1.5), ("unknown", 1.5)))
    if kind == "start":
        phrase = ctx.pick("place.start", *S.START_WORDS)
        return phrase, phrase.removeprefix("the ")
    if kind == "unknown":
        words = ctx.pick("place.unknown", *S.UNKNOWN_PLACES, p_held=0.3)
    else:
        name, aliases = ctx.pick("place.known", S.PLACES)
        options = (name,) * 2 + aliases
        train = tuple(w for w in options if w not in S.HELD_PLACE_WORDS)
        held = tuple(w for w in options if w in S.HELD_PLACE_WORDS)
        words = ctx.pick("place.words", train, held, p_held=0.6)
    the = "the " if ctx.chance(0.75 if kind == "known" else 0.6) and not words.startswith("room") else ""
    return the + words, words


def goto(ctx: Ctx, kind: str | None = None) -> Said:
    phrase, words = place(ctx, kind)
    frame = ctx.pick("frame.goto", *S.GOTO_FRAMES)
    if words.startswith(("where", "start")) and frame.startswith("return"):
        frame = "go back to {p}"
    return Said([frame.format(p=phrase)], GoTo(words), keep=(words,))


def single_step(ctx: Ctx, explicit: bool = False) -> Said:
    kind = ctx.weighted("step", (("move", 5), ("turn", 4), ("named", 1.5 if explicit else 1), ("goto", 2), ("arc", 0.5),
                                 ("circle", 0.3), ("square", 0.3)))
    if kind == "move":
        return move(ctx, ctx.weighted("mode", (("dist", 6), ("time", 2), ("speed_dist", 2), ("speed_time", 2),
                                                ("plain", 0.5))), explicit)
    if kind == "turn":
        return turn(ctx, ctx.weighted("mode", (("angle", 6), ("plain", 2), ("time", 1), ("rate_angle", 1))),
                    explicit)
    if kind == "named":
        return named_turn(ctx, explicit)
    return {"goto": goto, "arc": arc, "circle": circle, "square": square}[kind](ctx)


def _with_times(ctx: Ctx, said: Said, n: int) -> Said:
    frame = ctx.pick("frame.times", *S.STEP_TIMES)
    w = ctx.rng.choice(S.TIMES_WORDS.get(n, (f"{n} times",)))
    text = frame.format(s=said.text, n=n, w=w)
    step = said.step.__class__(**{**said.step.__dict__, "times": n})
    return Said([text], step, said.keep)


# ---------------------------------------------------------------- plans

def plan_text(ctx: Ctx, parts: list[Said]) -> str:
    first = ""
    if ctx.chance(0.15):
        first = ctx.pick("first", *S.FIRST)
        if first == "start by going to ":
            first = "first "
    text = first + parts[0].text
    for i, p in enumerate(parts[1:], 1):
        last = i == len(parts) - 1
        if last and len(parts) >= 3 and ctx.chance(0.4):
            conn = ctx.pick("connector.final", *S.FINAL_CONNECTORS)
        else:
            conn = ctx.pick("connector", *S.CONNECTORS)
        text += conn + p.text
    return text


def terse_step(ctx: Ctx) -> Said:
    """A step as people type it in a list: "forward 1 m", "left 90", "right" (no verb; an angle's
    unit often left out, which the grammar reads as degrees after a direction word)."""
    if ctx.chance(0.45):
        phrase, word = S.pick_dir(ctx, "linear")
        amount = sample(ctx, "length")
        ctx.trace.append("terse=move")
        return Said([phrase.removeprefix("in "), say(ctx, amount)], Move(word, amount))
    phrase, word = S.pick_dir(ctx, "angular")
    phrase = phrase.removeprefix("to the ")
    if ctx.chance(0.2):
        ctx.trace.append("terse=plain_turn")
        return Said([phrase], Turn(word))
    angle = sample(ctx, "angle", ("deg",))
    bare = ctx.chance(0.6)
    ctx.trace.append(f"terse=turn{'_bare' if bare else ''}")
    return Said([phrase, format_number(angle.value) if bare else say(ctx, angle)], Turn(word, angle))


def plan_parts(ctx: Ctx, n: int, times_ok: bool = True) -> list[Said]:
    """``times_ok``: a step may say "N times" (not inside a plan that is itself repeated)."""
    if ctx.chance(0.2):  # a terse list: "forward 1 m, left 90, forward 1 m"
        return [terse_step(ctx) if ctx.chance(0.85) else single_step(ctx, explicit=True) for _ in range(n)]
    parts: list[Said] = []
    for i in range(n):
        kind = ctx.weighted("plan.step", (("step", 8), ("wait", 1 if i else 0), ("times", 0.8 if times_ok else 0)))
        if kind == "wait":
            parts.append(wait(ctx))
            continue
        said = single_step(ctx, explicit=True)
        if kind == "times" and isinstance(said.step, (Move, Turn)) and len(said.chunks) <= 2:
            said = _with_times(ctx, said, ctx.weighted("n", ((2, 5), (3, 3), (4, 1))))
        parts.append(said)
    return parts


def _steps(parts: list[Said]) -> tuple[Step, ...]:
    return tuple(p.step for p in parts)


def _keep(parts: list[Said]) -> tuple[str, ...]:
    return tuple(k for p in parts for k in p.keep)


# ---------------------------------------------------------------- tasks

def _finish(ctx: Ctx, task: str, text: str, intent: Intent, keep=(), motion=True, question_ok=True) -> Candidate:
    user = decorate(ctx, text, protected(keep), motion=motion, question_ok=question_ok)
    return Candidate(task, user, intent, ctx.trace, ctx.held)


def _step_task(task: str, make: Callable[[Ctx], Said]):
    def build(ctx: Ctx) -> Candidate:
        said = make(ctx)
        chunks = said.chunks
        if len(chunks) > 2 and ctx.chance(0.25):
            chunks = reorder(ctx, chunks)
        elif len(chunks) == 2 and chunks[1].startswith(("for ", "at ")) and ctx.chance(0.15):
            chunks = reorder(ctx, chunks)
        return _finish(ctx, task, " ".join(c for c in chunks if c), Plan((said.step,)), said.keep)
    return build


def t_plan(ctx: Ctx) -> Candidate:
    parts = plan_parts(ctx, ctx.weighted("n_steps", ((2, 35), (3, 30), (4, 20), (5, 15))))
    return _finish(ctx, "plan", plan_text(ctx, parts), Plan(_steps(parts)), _keep(parts))


def t_plan_repeat(ctx: Ctx) -> Candidate:
    parts = plan_parts(ctx, ctx.weighted("n_steps", ((2, 70), (3, 30))), times_ok=False)
    n = ctx.weighted("n", ((2, 5), (3, 3), (4, 2)))
    frame = ctx.pick("frame.repeat", *S.PLAN_REPEAT)
    w = ctx.rng.choice(S.TIMES_WORDS.get(n, (f"{n} times",)))
    text = frame.format(p=plan_text(ctx, parts), n=n, w=w)
    return _finish(ctx, "plan_repeat", text, Plan(tuple(p.step for p in parts), n), _keep(parts), question_ok=False)


def t_plan_twice(ctx: Ctx) -> Candidate:
    parts = plan_parts(ctx, ctx.weighted("n_steps", ((1, 20), (2, 60), (3, 20))), times_ok=False)
    text = ctx.pick("frame.twice", *S.PLAN_TWICE).format(p=plan_text(ctx, parts) if len(parts) > 1 else parts[0].text)
    # The answer spells the steps out twice: "repeat 2" would write a count the command never typed.
    return _finish(ctx, "plan_repeat", text, Plan(_steps(parts) * 2), _keep(parts), question_ok=False)


def t_charge(ctx: Ctx) -> Candidate:
    phrase, word = ctx.pick("charge", *S.CHARGE_FRAMES)
    return _finish(ctx, "goto", phrase, Plan((GoTo(word),)), (word,))


def t_offtask_motion(ctx: Ctx) -> Candidate:
    verb, objects = ctx.pick("offtask.verb", *S.OFFTASK_VERBS)
    obj = ctx.rng.choice(objects)
    keep: tuple[str, ...] = ()
    if verb in S.OFFTASK_AMOUNTS and ctx.chance(0.4):
        # "move the couch 2 metres to the left": a quantity and a direction, still not for the robot.
        axis = "linear" if verb == "move" else "angular"
        phrase, _ = S.pick_dir(ctx, axis)
        amount = say(ctx, sample(ctx, "angle" if axis == "angular" else "length"))
        obj = ctx.rng.choice(S.OFFTASK_AMOUNTS[verb])
        obj = f"{obj} {amount} {phrase}" if ctx.chance(0.5) else f"{obj} {phrase} {amount}"
        keep = tuple(phrase.split())
        ctx.trace.append("offtask=amount")
    text = ctx.pick("frame.offtask", *S.OFFTASK_FRAMES).format(v=verb, o=obj)
    return _finish(ctx, "offtask", text, Fixed("reply offtask"), keep, motion=False)


def t_someone_else(ctx: Ctx) -> Candidate:
    """A step said of someone else, or of the speaker: "the forklift should back up 2 m", "i'm going
    to walk forward 3 m": nothing is asked of the robot."""
    text, keep = _wrapped(ctx, S.SOMEONE_ELSE)
    text = text.replace("{agent}", ctx.pick("agent", *S.AGENTS))
    return _finish(ctx, "offtask", text, Fixed("reply offtask"), keep, motion=False)


def t_narrative(ctx: Ctx) -> Candidate:
    frame = ctx.pick("narrative", *S.NARRATIVES)
    text = frame.format(place=ctx.rng.choice(S.PLACES)[0], agent=ctx.pick("agent", *S.AGENTS))
    return _finish(ctx, "offtask", text, Fixed("reply offtask"), motion=False)


def t_later(ctx: Ctx) -> Candidate:
    text, keep = _wrapped(ctx, S.LATER)
    return _finish(ctx, "hypothetical", text, Fixed("reply hypothetical"), keep, motion=False)


def t_step_times(ctx: Ctx) -> Candidate:
    mark = ctx.mark()
    said = single_step(ctx, explicit=True)
    while not isinstance(said.step, (Move, Turn, Square, Circle)) or len(said.chunks) > 2:
        ctx.undo(mark)
        said = single_step(ctx, explicit=True)
    said = _with_times(ctx, said, ctx.weighted("n", ((2, 5), (3, 3), (4, 1), (5, 0.5))))
    return _finish(ctx, "step_times", said.text, Plan((said.step,)), said.keep)


def t_stop(ctx: Ctx) -> Candidate:
    return _finish(ctx, "stop", ctx.pick("stop", *S.STOPS), Fixed("stop"), motion=False)


def t_stop_inside(ctx: Ctx) -> Candidate:
    parts = [single_step(ctx, explicit=True)]
    if ctx.chance(0.2):
        parts.append(single_step(ctx, explicit=True))
    body = plan_text(ctx, parts)
    frame = ctx.pick("frame.stop", *(S.STOP_BEFORE if ctx.chance(0.4) else S.STOP_AFTER))
    return _finish(ctx, "stop_inside", frame.format(s=body), Plan(_steps(parts)), _keep(parts), question_ok=False)


def t_query(ctx: Ctx) -> Candidate:
    what = ctx.pick("query", tuple(S.QUERIES))
    if what in S.QUERY_FRAMES and ctx.chance(0.4):
        frame = ctx.pick(f"query_frame.{what}", *S.QUERY_FRAMES[what])
        text = frame.format(n=ctx.pick(f"query_word.{what}", *S.QUERY_WORDS[what]))
    else:
        text = ctx.pick(f"query.{what}", *S.QUERIES[what])
    if text == "report any obstacles" and not ctx.test:
        text = "Report any obstacles"
    return _finish(ctx, f"query_{what}", text, Fixed(f"query {what}"), motion=False)


def t_reply(reason: str, table) -> Callable[[Ctx], Candidate]:
    def build(ctx: Ctx) -> Candidate:
        return _finish(ctx, reason if reason != "offtask" else "offtask", ctx.pick(reason, *table),
                       Fixed(f"reply {reason}"), motion=False)
    return build


def _wrapped(ctx: Ctx, frames) -> tuple[str, tuple[str, ...]]:
    said = single_step(ctx)
    if ctx.chance(0.15):
        parts = [said, single_step(ctx, explicit=True)]
        return ctx.pick("frame.wrap", *frames).format(s=plan_text(ctx, parts)), _keep(parts)
    return ctx.pick("frame.wrap", *frames).format(s=said.text), said.keep


def t_negated(ctx: Ctx) -> Candidate:
    text, keep = _wrapped(ctx, S.NEGATIONS)
    return _finish(ctx, "negated", text, Fixed("reply negated"), keep, motion=False)


def t_hypothetical(ctx: Ctx) -> Candidate:
    text, keep = _wrapped(ctx, S.HYPOTHETICALS)
    return _finish(ctx, "hypothetical", text, Fixed("reply hypothetical"), keep, motion=False)


def t_question(ctx: Ctx) -> Candidate:
    if ctx.chance(0.5):
        return _finish(ctx, "question", ctx.pick("question", *S.QUESTIONS), Fixed("reply question"), motion=False)
    text, keep = _wrapped(ctx, S.QUESTION_FRAMES)
    return _finish(ctx, "question", text, Fixed("reply question"), keep, motion=False)


def t_unclear(ctx: Ctx) -> Candidate:
    if ctx.chance(0.5):  # gibberish
        letters = "qwrtplkjhgfdszxcvbnmaeiou"
        words = ["".join(ctx.rng.choice(letters) for _ in range(ctx.rng.randint(3, 8)))
                 for _ in range(ctx.rng.randint(1, 4))]
        ctx.trace.append("unclear=gibberish")
        return _finish(ctx, "unclear", " ".join(words), Fixed("reply unclear"), motion=False)
    absurd = ctx.pick("absurd", *S.ABSURD)
    if ctx.chance(0.5):
        verb, (phrase, _), unit = (ctx.pick("verb.move", *S.MOVE_VERBS), S.pick_dir(ctx, "linear"),
                                   ctx.rng.choice(("meters", "m", "metres", "km", "feet")))
    else:
        verb, (phrase, _), unit = (ctx.pick("verb.turn", *S.TURN_VERBS), S.pick_dir(ctx, "angular"),
                                   ctx.rng.choice(("degrees", "deg", "radians")))
    return _finish(ctx, "unclear", f"{verb} {phrase} {absurd} {unit}", Fixed("reply unclear"), motion=False)


def t_correction(ctx: Ctx) -> Candidate:
    kind = ctx.weighted("correct", (("dir", 3), ("amount", 3), ("place", 2)))
    sep = ctx.pick("frame.correction", *S.CORRECTIONS)
    if kind == "place":
        said = goto(ctx, "known")
        mark = ctx.mark()
        phrase, words = place(ctx, "known")
        while words == said.step.place:
            ctx.undo(mark)
            phrase, words = place(ctx, "known")
        return _finish(ctx, "correction", said.text + sep.format(c=phrase), Plan((GoTo(words),)),
                       said.keep + (words,))
    if ctx.chance(0.5):
        said = move(ctx, ctx.weighted("mode", (("dist", 3), ("time", 1))), explicit=True)
        step = said.step
        amount_kind = "length" if step.amount else "time"
    else:
        said = turn(ctx, "angle", explicit=True)
        step = said.step
        amount_kind = "angle"
    if kind == "dir":
        phrase, word = ctx.pick("dir.correct", S.OPPOSITE[step.dir])
        new = step.__class__(**{**step.__dict__, "dir": word})
        c = phrase
    else:
        old = step.amount if isinstance(step, Move) and step.amount else (
            step.time if isinstance(step, Move) else step.angle)
        mark = ctx.mark()
        q = sample(ctx, amount_kind, (old.unit,))
        while q.text == old.text:
            ctx.undo(mark)
            q = sample(ctx, amount_kind, (old.unit,))
        c = say(ctx, q, plain=True)
        field_ = "amount" if isinstance(step, Move) and step.amount else ("time" if isinstance(step, Move)
                                                                          else "angle")
        new = step.__class__(**{**step.__dict__, field_: q})
    return _finish(ctx, "correction", said.text + sep.format(c=c), Plan((new,)), said.keep + (c,))


def t_memory(ctx: Ctx) -> Candidate:
    what = ctx.weighted("memory", (("again", 3), ("again_n", 2), ("undo", 2), ("continue", 2)))
    history = []
    for _ in range(ctx.weighted("history", ((1, 3), (2, 1)))):
        parts = [single_step(ctx, explicit=True)] if ctx.chance(0.7) else plan_parts(ctx, 2)
        text = decorate(ctx, plan_text(ctx, parts), protected(_keep(parts)), motion=True, strength=0.5)
        history.append((text, Plan(_steps(parts))))
    if what == "continue" and ctx.chance(0.6):
        history.append((ctx.rng.choice(S.STOPS[0]), Fixed("stop")))
    frame = ctx.pick(f"memory.{what}", *S.MEMORY[what])
    if what == "again_n":
        n = ctx.weighted("n", ((2, 5), (3, 3), (4, 1)))
        w = ctx.rng.choice(S.TIMES_WORDS[n])
        text, answer = frame.format(n=n, w=w), f"again x{n}"
    else:
        text, answer = frame, what
    c = _finish(ctx, f"memory_{what.removesuffix('_n')}", text, Fixed(answer), motion=False)
    c.history = history
    return c


def _goto_task(kind: str | None):
    return _step_task("goto" if kind != "unknown" else "goto_unknown", lambda ctx: goto(ctx, kind))


def _move_task(mode):
    return _step_task(f"move_{mode}", lambda ctx: move(ctx, mode))


def _turn_task(mode):
    return _step_task(f"turn_{mode}", lambda ctx: turn(ctx, mode))


TASKS: dict[str, tuple[float, Callable[[Ctx], Candidate]]] = {
    "move_dist": (6, _move_task("dist")), "move_time": (3, _move_task("time")),
    "move_speed_dist": (4, _move_task("speed_dist")), "move_speed_time": (6, _move_task("speed_time")),
    "move_plain": (1.5, _move_task("plain")), "move_backup": (2, _move_task("backup")),
    "turn_angle": (6, _turn_task("angle")), "turn_time": (2.5, _turn_task("time")),
    "turn_rate_angle": (2.5, _turn_task("rate_angle")), "turn_rate_time": (3, _turn_task("rate_time")),
    "turn_plain": (2, _turn_task("plain")), "turn_named": (4, _step_task("turn_named", named_turn)),
    "arc": (5, _step_task("arc", arc)), "circle": (2, _step_task("circle", circle)),
    "partial_circle": (1.5, _step_task("partial_circle", partial_circle)),
    "square": (2, _step_task("square", square)), "goto": (8, _goto_task(None)),
    "goto_unknown": (2, _goto_task("unknown")), "plan": (20, t_plan), "plan_repeat": (3, t_plan_repeat),
    "plan_twice": (2, t_plan_twice), "charge": (1.5, t_charge), "offtask_motion": (4, t_offtask_motion),
    "narrative": (2.5, t_narrative), "someone_else": (2.5, t_someone_else), "later": (1.5, t_later),
    "step_times": (3, t_step_times), "stop": (2.5, t_stop), "stop_inside": (4, t_stop_inside),
    "query": (9, t_query), "memory": (6, t_memory), "negated": (5, t_negated), "hypothetical": (4, t_hypothetical),
    "question": (3, t_question), "offtask": (5, t_reply("offtask", S.OFFTASK)),
    "greeting": (2, t_reply("greeting", S.GREETINGS)), "unclear": (3, t_unclear), "correction": (5, t_correction),
}


def generate(rng: random.Random, test: bool, history_p: float = 0.15) -> Candidate:
    """One candidate: a task drawn by weight; ~15% of single commands get 1-2 earlier turns."""
    name = rng.choices(list(TASKS), weights=[w for w, _ in TASKS.values()])[0]
    ctx = Ctx(rng, test)
    c = TASKS[name][1](ctx)
    if not c.history and rng.random() < history_p:
        hctx = Ctx(rng, False)
        for _ in range(rng.choice((1, 1, 2))):
            said = single_step(hctx, explicit=True)
            c.history.append((decorate(hctx, said.text, protected(said.keep), motion=True, strength=0.5),
                              Plan((said.step,))))
        c.trace.append(f"history={len(c.history)}")
    return c
