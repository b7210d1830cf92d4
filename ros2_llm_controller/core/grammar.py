"""The action grammar of one command: language v2 (``language.py``) with the command's own
quantities, direction words and place words as the only ones the model may write.

Built per command from its normalised text, as one regular expression. It serves twice:

* generation: ``constraint.py`` hands it to llguidance, which masks every token that would leave
  the language, so every answer parses by construction;
* data: ``check_answer`` tells the dataset builder whether an answer is one the model could
  produce for that command (the copy constraint holds for every training example).

The copy constraint: every quantity in an answer comes from the command ("1 m/s" in the command
allows "at 1 m/s", not "1 m"; a bare number may take the slot's default unit), or is a named
angle (90/180/360 deg). Direction words: when the command has words for one axis, the answer
may use only those words and their synonyms, so "head straight on" cannot become "move back".
Arcs: only a command that says the two happen together ("while", "curving", "at the same time", ...)
may be answered with ``arc``, so "go forward 1 m, turn left 90" cannot fold into one arc.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from .language import (ANGULAR_SIGN, BACKWARD_WORDS, DEFAULT_UNIT, FORWARD_WORDS, LEFT_WORDS, LINEAR_SIGN,
                       MAX_COUNT, MAX_PLACE_WORDS, NAMED_ANGLES, RIGHT_WORDS, Query, Reason)
from .normalise import BARE_NUMBER, normalise, quantities

_ARTICLES = frozenset({"the", "a", "an"})
_WORD = re.compile(r"[a-z0-9']+")


@dataclass(frozen=True)
class Slots:
    """What an answer to one command may contain."""

    lengths: tuple[str, ...]
    angles: tuple[str, ...]
    times: tuple[str, ...]
    linear_speeds: tuple[str, ...]
    angular_speeds: tuple[str, ...]
    counts: tuple[str, ...]
    places: tuple[str, ...]
    linear_dirs: tuple[str, ...]
    angular_dirs: tuple[str, ...]
    arc: bool = False  # the command says a motion and a turn happen together


def _dirs(words: set[str], classes: tuple[tuple[str, ...], ...]) -> tuple[str, ...]:
    present = [c for c in classes if words & set(c)]
    return tuple(w for c in (present or classes) for w in c)


def slots_for(normalised: str) -> Slots:
    """The slots of a normalised command (see ``normalise.normalise``)."""
    qs = quantities(normalised)

    bare = _bare_numbers(normalised)

    def of(kind: str, default: str | None = None) -> list[str]:
        out = [q.text for q in qs if q.kind == kind]
        if default:
            out += [f"{text} {default}" for text, kinds in bare if kind in kinds]
        return out

    angles = of("angle", DEFAULT_UNIT["angle"]) + list(NAMED_ANGLES)
    counts = [text for text, kinds in bare if "count" in kinds and float(text).is_integer()
              and 2 <= float(text) <= MAX_COUNT]
    words = [w for w in _WORD.findall(normalised)]
    content = [w for w in words if w not in _ARTICLES]
    places = {" ".join(content[i:i + n]) for n in range(1, MAX_PLACE_WORDS + 1) for i in range(len(content) - n + 1)}
    wordset = set(words)
    return Slots(
        lengths=_unique(of("length", DEFAULT_UNIT["length"])),
        angles=_unique(angles),
        times=_unique(of("time", DEFAULT_UNIT["time"])),
        linear_speeds=_unique(of("linear_speed")),
        angular_speeds=_unique(of("angular_speed")),
        counts=_unique(counts),
        places=tuple(sorted(places)),
        linear_dirs=_dirs(wordset, (FORWARD_WORDS, BACKWARD_WORDS)),
        angular_dirs=_dirs(wordset, (LEFT_WORDS, RIGHT_WORDS)),
        arc=has_arc_cue(words),
    )


# Words that put a drive and a turn at the same time. A small closed list: an arc is the one answer
# that merges two motions, and a model that merges a plan's steps moves the robot somewhere else.
_ARC_CUES = frozenset({"while", "whilst", "arc", "arcs", "arcing", "curve", "curves", "curving", "curved", "veer",
                       "veers", "veering", "bend", "bends", "bending", "sweep", "sweeps", "sweeping", "swerve",
                       "swerving", "turning", "rotating", "spinning", "steering", "simultaneously", "meanwhile"})
_ARC_PHRASES = (("same", "time"), ("as", "you"), ("as", "it"), ("as", "we"))  # "at the same time", "as you drive"
_RATE_GERUNDS = frozenset({"turning", "rotating", "spinning"})
_AS_COMPARISON = frozenset({"fast", "far", "quick", "quickly", "slow", "slowly", "soon", "much", "long", "possible"})


def has_arc_cue(words: list[str]) -> bool:
    """Whether the command's (normalised) words say a drive and a turn happen together. Misspelt cues
    reach here repaired by the normaliser ("whle turnig" -> "while turning")."""
    for i, w in enumerate(words):
        after = words[i + 1:i + 2]
        if w in _RATE_GERUNDS and after == ["at"]:
            continue  # "rotating at 20 deg/s" is a turn's rate, not a second motion
        if w == "as" and words[i - 1:i] and words[i - 1] in _AS_COMPARISON:
            continue  # "as fast as you can"
        if w in _ARC_CUES or (w, *after) in _ARC_PHRASES:
            return True
    return False


_ANGULAR_CONTEXT = frozenset(LEFT_WORDS + RIGHT_WORDS + ("turn", "rotate", "spin", "pivot", "swing", "yaw"))
_LINEAR_CONTEXT = frozenset(FORWARD_WORDS + BACKWARD_WORDS + ("move", "drive", "go", "travel", "roll", "walk"))


def _bare_numbers(normalised: str) -> list[tuple[str, frozenset[str]]]:
    """Each number without a unit, and what it may stand for, judged by the words around it: "left 90" is
    an angle, "forward 2" a length, "3 times" a count only; with no such word, a length, angle or time."""
    words = [(m.start(), m.group()) for m in re.finditer(r"[a-z]+|\d+(?:\.\d+)?", normalised)]
    out = []
    for m in BARE_NUMBER.finditer(normalised):  # numbers the normaliser left without a unit
        text = m.group("num")
        i = next(k for k, (pos, _) in enumerate(words) if pos == m.start())
        before = words[i - 1][1] if i > 0 else ""
        after = [w for _, w in words[i + 1:i + 3]]
        if after[:1] in (["times"], ["time"]) or after == ["more", "times"]:
            out.append((text, frozenset({"count"})))
            continue
        # The word before decides ("left 90, forward 1 m"); failing that, the word after ("90 left").
        near = before if before in _ANGULAR_CONTEXT | _LINEAR_CONTEXT else (after[0] if after else "")
        if near in _ANGULAR_CONTEXT:
            kinds = {"angle"}
        elif near in _LINEAR_CONTEXT:
            kinds = {"length"}
        else:
            kinds = {"length", "angle", "time"}
        out.append((text, frozenset(kinds | {"count"})))
    return out


def _unique(items) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _alt(items) -> str | None:
    items = list(items)
    if not items:
        return None
    return "(?:" + "|".join(re.escape(i) for i in sorted(items, key=len, reverse=True)) + ")"


def _opt(prefix: str, alt: str | None) -> str:
    return f"(?:{re.escape(prefix)}{alt})?" if alt else ""


def _amount(amount: str | None, time: str | None, speed: str | None) -> str:
    """How much of a move or turn: an amount with a time or a speed, a time with a speed, a speed
    alone, or nothing (never all three: that would be over-determined)."""
    options = []
    if amount:
        tail = [f" for {time}"] * bool(time) + [f" at {speed}"] * bool(speed)
        options.append(f" {amount}" + (f"(?:{'|'.join(tail)})?" if tail else ""))
    if time:
        options.append(f" for {time}" + _opt(" at ", speed))
    if speed:
        options.append(f" at {speed}")
    return f"(?:{'|'.join(options)})?" if options else ""


def answer_regex(slots: Slots) -> str:
    """The answers allowed for ``slots``, as a regex in the common subset of Python's ``re`` and
    Rust's ``regex`` (llguidance): literals, groups, alternation, ``?`` and ``*``."""
    ldir, adir = _alt(slots.linear_dirs), _alt(slots.angular_dirs)
    length, angle, time = _alt(slots.lengths), _alt(slots.angles), _alt(slots.times)
    lspeed, aspeed, count = _alt(slots.linear_speeds), _alt(slots.angular_speeds), _alt(slots.counts)
    place = _alt(slots.places)
    bases = [
        f"move {ldir}{_amount(length, time, lspeed)}",
        f"turn {adir}{_amount(angle, time, aspeed)}",
        f"circle {adir}{_opt(' ', length)}{_opt(' ', angle)}",
    ]
    if length:
        bases.append(f"square {length}{_opt(' ', adir)}")
    if length and slots.arc:
        bases.append(f"arc {ldir} {length} {adir} {angle}")
    if place:
        bases.append(f"go to {place}")
    if time:
        bases.append(f"wait {time}")
    step = "(?:" + "|".join(bases) + ")" + _opt(" x", count)
    plan = _opt("repeat ", f"{count}: " if count else None) + f"{step}(?:; {step})*"
    others = [
        "stop",
        "query (?:" + "|".join(q.value for q in Query) + ")",
        "again" + _opt(" x", count), "undo", "continue",
        "reply (?:" + "|".join(r.value for r in Reason) + ")",
    ]
    return "(?:" + "|".join([plan] + others) + ")"


@lru_cache(maxsize=256)
def regex_for_command(command: str) -> str:
    """The answer regex of a raw command (normalised here)."""
    return answer_regex(slots_for(normalise(command)))


def check_answer(command: str, answer: str) -> str | None:
    """None when the grammar of ``command`` accepts ``answer``; otherwise why not."""
    rx = regex_for_command(command)
    if re.fullmatch(rx, answer):
        return None
    slots = slots_for(normalise(command))
    if re.search(r"(?:^|; |: )arc ", answer) and not slots.arc:
        return "an arc needs a word that says the drive and the turn happen together"
    for q in re.findall(r"\d+(?:\.\d+)? [a-z/]+", answer):
        if not any(q in s for s in (slots.lengths, slots.angles, slots.times, slots.linear_speeds,
                                    slots.angular_speeds)):
            return f"quantity {q!r} is not in the command"
    for w in re.findall(r"\b[a-z]+\b", answer):
        if w in LINEAR_SIGN and w not in slots.linear_dirs or w in ANGULAR_SIGN and w not in slots.angular_dirs:
            return f"direction {w!r} contradicts the command's direction words"
    return "not in the action grammar"
