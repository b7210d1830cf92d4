"""Command text -> the text the model reads. One normaliser, used by training, evaluation, the CLI
and the node, so the model always sees commands in one canonical form:

* unicode folded (NFKC, curly quotes, unicode minus), emoji and control characters dropped, case
  folded ("mOvE fOrWaRd" and "MOVE FORWARD" both become "move forward");
* numbers as digits: number words ("two and a half" -> 2.5, "three hundred" -> 300, via the
  maintained ``text2num``), fractions ("a quarter of a" -> 0.25, "half a" -> 0.5, "1/2",
  "½"), thousands separators ("1,500" -> 1500), pi ("pi/2" -> 1.5708), "a"/"an" before a unit -> 1,
  "twice" -> "2 times";
* units canonical and apart from their number ("2metres" -> "2 m", "90°" -> "90 deg", "km per hour"
  -> "km/h"), misspelt units after a number repaired ("2 metrs" -> "2 m"), compound lengths summed
  ("1 foot 6 inches" -> "18 in");
* direction synonyms folded ("anti-clockwise", "ccw" -> "counterclockwise"; "forwards" -> "forward")
  and long misspelt direction words repaired ("fowrard" -> "forward");
* other typing slips repaired against an English dictionary (``spelling.py``: "pivlt" -> "pivot",
  "shpukd" -> "should", "nveer" -> "never"); a dictionary word such as "light" is never changed by any
  repair rule (only the phone spellings of ``_SPELLINGS``, such as "rite", are).

``normalise`` is idempotent: normalising twice changes nothing (property-tested). The quantities
the grammar lets the model copy are read from its output by ``quantities``.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from .language import (ANGLE_UNITS, ANGULAR_SPEED_UNITS, LENGTH_UNITS, LINEAR_SPEED_UNITS, TIME_UNITS)
from .spelling import correct, is_word

# ---- tables ---------------------------------------------------------------------------------

# Spelling -> canonical unit. Speeds first (longest match wins in the regex below).
_UNIT_SPELLINGS: dict[str, str] = {}


def _add(canonical: str, *spellings: str) -> None:
    for s in spellings:
        _UNIT_SPELLINGS[s] = canonical


for _per in ("per second", "per sec", "a second", "/s", "/sec", "/second", "ps", " per s"):
    _add("m/s", *(f"{u}{' ' if not _per.startswith(('/', 'ps')) else ''}{_per}".replace("  ", " ")
                  for u in ("m", "meter", "meters", "metre", "metres")))
    _add("cm/s", *(f"{u}{' ' if not _per.startswith(('/', 'ps')) else ''}{_per}".replace("  ", " ")
                   for u in ("cm", "centimeter", "centimeters", "centimetre", "centimetres")))
    _add("mm/s", *(f"{u}{' ' if not _per.startswith(('/', 'ps')) else ''}{_per}".replace("  ", " ")
                   for u in ("mm", "millimeter", "millimeters", "millimetre", "millimetres")))
    _add("ft/s", *(f"{u}{' ' if not _per.startswith(('/', 'ps')) else ''}{_per}".replace("  ", " ")
                   for u in ("ft", "foot", "feet")))
    _add("deg/s", *(f"{u}{' ' if not _per.startswith(('/', 'ps')) else ''}{_per}".replace("  ", " ")
                    for u in ("deg", "degree", "degrees", "degs")))
    _add("rad/s", *(f"{u}{' ' if not _per.startswith(('/', 'ps')) else ''}{_per}".replace("  ", " ")
                    for u in ("rad", "radian", "radians")))
_add("m/s", "mps")
_add("deg/s", "dps")
_add("km/h", "km/h", "kmh", "kph", "km per hour", "kms per hour", "kilometer per hour", "kilometers per hour",
     "kilometre per hour", "kilometres per hour", "kilometers an hour", "kilometres an hour", "km an hour")
_add("mph", "mph", "mi/h", "miles/h", "mile/h", "miles per hour", "mile per hour", "miles an hour")
_add("km/h", "kilometers/h", "kilometres/h", "kilometer/h", "kilometre/h", "kms/h")
_add("rpm", "rpm", "revolutions per minute", "revolution per minute", "rotations per minute", "turns per minute",
     "rotations/min", "rotation/min", "revolutions/min", "revolution/min", "revs/min", "rev/min", "turns/min")
_add("m", "m", "meter", "meters", "metre", "metres", "mtr", "mtrs", "mts")
_add("cm", "cm", "cms", "centimeter", "centimeters", "centimetre", "centimetres", "centi meters")
_add("mm", "mm", "millimeter", "millimeters", "millimetre", "millimetres")
_add("km", "km", "kms", "kilometer", "kilometers", "kilometre", "kilometres")
_add("ft", "ft", "foot", "feet")
_add("in", "in", "inch", "inches")
_add("yd", "yd", "yds", "yard", "yards")
_add("deg", "deg", "degs", "degree", "degrees")
_add("rad", "rad", "rads", "radian", "radians")
_add("rev", "rev", "revs", "revolution", "revolutions", "rotation", "rotations", "turn", "turns", "full turns",
     "full turn", "full rotations", "full rotation", "spins", "circles")
_add("s", "s", "sec", "secs", "second", "seconds")
_add("ms", "ms", "millisecond", "milliseconds")
_add("min", "min", "mins", "minute", "minutes")
_add("h", "h", "hr", "hrs", "hour", "hours")

CANONICAL_UNITS = frozenset(LENGTH_UNITS + ANGLE_UNITS + TIME_UNITS + LINEAR_SPEED_UNITS + ANGULAR_SPEED_UNITS)
assert set(_UNIT_SPELLINGS.values()) <= CANONICAL_UNITS
UNIT_KIND = {**{u: "length" for u in LENGTH_UNITS}, **{u: "angle" for u in ANGLE_UNITS},
             **{u: "time" for u in TIME_UNITS}, **{u: "linear_speed" for u in LINEAR_SPEED_UNITS},
             **{u: "angular_speed" for u in ANGULAR_SPEED_UNITS}}

# Words that are units only after a number; alone they are ordinary words ("in", "turn", "s").
_AMBIGUOUS_ALONE = {"in", "s", "h", "m", "turn", "turns", "rev", "min", "spins", "circles"}

_UNIT_WORDS_ALONE = "|".join(re.escape(s) for s in sorted(_UNIT_SPELLINGS, key=len, reverse=True)
                             if s not in _AMBIGUOUS_ALONE and " " not in s)
# Misspellings are repaired against these (only words of 5+ letters, one edit; see _repair).
_FUZZY_UNITS = sorted({s for s in _UNIT_SPELLINGS if " " not in s and "/" not in s and len(s) >= 5})

DIRECTION_SYNONYMS = {
    "anticlockwise": "counterclockwise", "anti-clockwise": "counterclockwise", "anti clockwise": "counterclockwise",
    "counter-clockwise": "counterclockwise", "counter clockwise": "counterclockwise", "ccw": "counterclockwise",
    "cw": "clockwise", "clock-wise": "clockwise", "clock wise": "clockwise",
    "forwards": "forward", "fwd": "forward", "backwards": "backward", "back-wards": "backward",
}
# Long words worth repairing when misspelt by one edit (short ones like "left" are too close to
# real words: "lift", "loft").
_FUZZY_WORDS = ("forward", "backward", "clockwise", "counterclockwise", "rotate", "reverse", "straight",
                "degrees", "meters", "metres", "seconds", "centimeters", "centimetres", "millimeters",
                "millimetres", "radians", "battery", "obstacles", "kitchen", "charging", "station",
                "bedroom", "office", "living", "second", "minute", "minutes", "degree", "meter", "metre",
                "centimeter", "centimetre", "radian")
# Short control words: only an adjacent swap is repaired ("mvoe", "trun", "rigth"); one substitution
# would turn real words into commands ("light" -> "right", "burn" -> "turn").
_SWAPPED_WORDS = ("move", "turn", "left", "right", "back", "spin", "drive", "forwards", "backwards", "around", "ahead")
# Phone spellings of direction words that no edit rule can reach safely.
_SPELLINGS = {"rite": "right", "rght": "right", "riht": "right", "lft": "left", "fwrd": "forward", "bck": "back",
              "backwd": "backward", "bkwd": "backward"}
# Words the later passes read as they are (fractions, "pi", the "semi" of "semi-circle").
_NEVER_SPELLED = frozenset({"pi", "semi", "thirds", "fifths", "eighths", "tenths", "halves", "quarters"})
_KEEP_WORDS = frozenset({"forwards", "backwards", "rotated", "rotates", "reversed", "reverses", "offices", "stations",
                         "rotator", "foreword", "heading", "straighten", "seconded", "meters", "metres", "degrees",
                         "minuets", "meteor", "letter", "better", "setter", "deeper", "defer"})

_SMALL_FRACTIONS = {"½": 0.5, "⅓": 1 / 3, "⅔": 2 / 3, "¼": 0.25, "¾": 0.75, "⅕": 0.2, "⅛": 0.125, "⅜": 0.375,
                    "⅝": 0.625, "⅞": 0.875, "⅙": 1 / 6, "⅚": 5 / 6}
_WORD_FRACTIONS = {"half": 0.5, "quarter": 0.25, "third": 1 / 3, "fifth": 0.2, "eighth": 0.125, "tenth": 0.1}
_WORD_FRACTIONS_PLURAL = {"halves": 0.5, "quarters": 0.25, "thirds": 1 / 3, "fifths": 0.2, "eighths": 0.125,
                          "tenths": 0.1}
_NUM = r"\d+(?:\.\d+)?"
_DIGIT_WORDS = {w: str(i) for i, w in enumerate("zero one two three four five six seven eight nine".split())}
_DIGIT_WORDS["oh"] = "0"
_DIGIT_ALT = "|".join(list(_DIGIT_WORDS) + [r"\d"])
_SPOKEN_DECIMAL = re.compile(rf"\b({_DIGIT_ALT}|\d+) point ((?:(?:{_DIGIT_ALT})\b ?)+)")
_ORDINAL_WORDS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")
_ORDINALS = re.compile(r"\b(?:" + "|".join(_ORDINAL_WORDS) + r")\b")
# "per second" after a unit word: "30 centimeters per second" -> "30 centimeters/s".
_PER = {"second": "s", "sec": "s", "s": "s", "hour": "h", "hr": "h", "h": "h", "minute": "min", "min": "min"}
_NUMBER_RE = re.compile(rf"(?<![\w.]){_NUM}(?![\w.])")

# ---- helpers --------------------------------------------------------------------------------


def format_number(value: float, places: int = 4) -> str:
    """Shortest plain decimal for ``value`` (at most ``places`` decimals): 2.0 -> "2", 0.25 -> "0.25"."""
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {value}")
    if abs(value) >= 1e15:  # beyond float's exact integers: keep it plainly huge
        return str(int(value))
    text = f"{value:.{places}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _units_alternation() -> str:
    return "|".join(re.escape(s) for s in sorted(_UNIT_SPELLINGS, key=len, reverse=True))


_UNIT_AFTER_NUMBER = re.compile(rf"(?<![\w.])(?P<num>{_NUM})\s*(?P<unit>{_units_alternation()})(?![\w/])")
_CANON_UNITS = "|".join(map(re.escape, sorted(CANONICAL_UNITS, key=len, reverse=True)))
_ALREADY_CANON = re.compile(rf"(?<![\w.])(?P<num>{_NUM}) (?P<unit>{_CANON_UNITS})(?![\w/])")


@lru_cache(maxsize=1)
def _alpha2digit():
    from text_to_num import alpha2digit  # maintained (allo-media); handles "three hundred and fifty"

    return alpha2digit


# ---- the passes ------------------------------------------------------------------------------

def _fold_unicode(text: str) -> str:
    for ch, v in _SMALL_FRACTIONS.items():  # "1½" -> "1.5", "½" -> "0.5" (before NFKC splits them)
        text = re.sub(rf"(\d+)\s*{ch}", lambda m, v=v: format_number(int(m.group(1)) + v), text)
        text = text.replace(ch, format_number(v))
    text = text.replace("°", " deg ").replace("º", " deg ")
    text = unicodedata.normalize("NFKC", text)
    text = (text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
            .replace("−", "-").replace("–", "-").replace("—", "-").replace("π", " pi ").replace("⁄", "/"))
    # Emoji and other symbols carry no quantity; control characters none either.
    text = "".join(" " if unicodedata.category(c) in ("So", "Cs", "Co", "Cn") or
                   (unicodedata.category(c) == "Cc" and c not in "\n\t") else c for c in text)
    return text.casefold()


def _plain_decimal(m: re.Match) -> str:
    """"1e9" -> "1000000000", "1.5e-05" -> "0.000015": exact (Decimal), so nothing is rounded away."""
    from decimal import Decimal, InvalidOperation

    try:
        d = Decimal(m.group(0))
    except InvalidOperation:
        return m.group(0)
    if not d.is_finite() or abs(d.adjusted()) > 400:  # "1e999": left as written, so it never parses
        return m.group(0)
    text = format(d, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _rates(text: str) -> str:
    units = "|".join(re.escape(u) for u in sorted(
        {s for s in _UNIT_SPELLINGS if " " not in s and "/" not in s} | {"miles", "mile", "kilometers", "kilometres"},
        key=len, reverse=True))
    return re.sub(rf"(?<![/\w])({units})\s*(?:per|an?|every|each|/)\s*(second|sec|hour|hr|minute|min)s?\b",
                  lambda m: f"{m.group(1)}/{_PER[m.group(2)]}", text)


def _digits(words: str) -> str:
    """Spoken digits after "point" as digits: "zero five" -> "05"."""
    return "".join(_DIGIT_WORDS.get(w, w) for w in words.split())


def _numbers(text: str) -> str:
    # Thousands separators: "1,500" -> "1500" (exact groups of three only, so "1, 2" stays).
    text = re.sub(r"(?<![\d.,])(\d{1,3})((?:,\d{3})+)(?![\d,])", lambda m: m.group(1) + m.group(2).replace(",", ""),
                  text)
    text = re.sub(r"(?<=\d),(?=\d)", ".", text)  # "2,5 m" (decimal comma) -> "2.5"
    text = re.sub(r"(?<![\w.])\.(\d)", r"0.\1", text)  # ".5" -> "0.5"
    text = re.sub(r"(\d)-(?=[a-z])", r"\1 ", text)  # "90-degree" -> "90 degree"
    text = re.sub(rf"(?<!half )(?<!of )\ban?\s+({_UNIT_WORDS_ALONE})(?![\w/])", r"1 \1", text)
    text = re.sub(rf"\bone\s+({_UNIT_WORDS_ALONE})(?![\w/])", r"1 \1", text)  # "a meter" -> "1 meter"
    text = re.sub(r"\bone (m|s|h|min|rev)\b", r"1 \1", text)  # "one m" (but "one in three" stays)
    text = re.sub(r"\bone (?:full |whole |complete )?(?:turn|rotation|revolution|circle|spin)\b", "1 rev", text)
    text = re.sub(r"\bsemi-?circle\b", "0.5 rev", text)  # "a semicircle" as "a half circle"
    # "do a one-eighty" (but "one eighty five" is left to the number words)
    not_longer = r"(?![- ](?:one|two|three|four|five|six|seven|eight|nine)\b)"
    text = re.sub(r"\bone[- ]eighty\b" + not_longer, "180", text)
    text = re.sub(r"\bthree[- ]sixty\b" + not_longer, "360", text)
    text = re.sub(r"\b(?:a|one) couple of\b|\ba couple\b", "2", text)
    text = re.sub(r"\btwice\b", "2 times", text)
    text = re.sub(r"\bthrice\b", "3 times", text)
    text = re.sub(r"\bdouble\b(?= (?:the|that|it)\b)", "2 times", text)
    # Scientific notation: "1e9" -> "1000000000" (absurd, but a number: the limits decide).
    text = re.sub(r"(?<![\w.])\d+(?:\.\d+)?e[-+]?\d+(?![\w.])", _plain_decimal, text)
    text = re.sub(r"\b(?:three|3)[- ]quarters? (?:of an? )?(?:full )?(?:turn|rotation|revolution|circle)\b", "0.75 rev",
                  text)  # "a three-quarter turn"
    # Spoken decimals: "zero point one", "two point five", "oh point zero five" (text2num skips a leading zero).
    text = _SPOKEN_DECIMAL.sub(lambda m: _DIGIT_WORDS.get(m.group(1), m.group(1)) + "." + _digits(m.group(2)), text)
    # "point seven meters per second": a spoken decimal without its leading zero, before a unit.
    text = re.sub(rf"(?<![\w.])point ((?:(?:{_DIGIT_ALT})\b ?)+)(?=\s*(?:{_UNIT_WORDS_ALONE}|m|s|in)\b)",
                  lambda m: "0." + _digits(m.group(1)) + " ", text)
    # text2num reads ordinals too ("the second time" -> "2nd"); they are no quantities: mask them.
    text = _ORDINALS.sub(lambda m: f"\x00{_ORDINAL_WORDS.index(m.group(0))}\x00", text)
    # "one" stays a word ("no one"); "one <unit>" and "one and a half" are handled here instead.
    text = re.sub(r"\bone and (?:a|one) (half|quarter)\b", lambda m: format_number(1 + _WORD_FRACTIONS[m.group(1)]),
                  text)
    text = _alpha2digit()(text, "en", threshold=2)
    text = re.sub(r"\x00(\d+)\x00", lambda m: _ORDINAL_WORDS[int(m.group(1))], text)
    # Word fractions that text2num leaves: "two and a half" (after digits: "2 and a half").
    text = re.sub(rf"(?<![\w.])({_NUM}) and (?:a|one) (half|quarter|third)\b",
                  lambda m: format_number(float(m.group(1)) + _WORD_FRACTIONS[m.group(2)]), text)
    text = re.sub(rf"(?<![\w.])({_NUM}) and ({_NUM}) (quarters|thirds|eighths)\b",
                  lambda m: format_number(float(m.group(1)) + float(m.group(2)) * _WORD_FRACTIONS_PLURAL[m.group(3)]),
                  text)
    text = re.sub(r"\b(\d+)[- ]quarters? (?:of an? )?(?:full )?(turn|rotation|revolution|circle)\b",
                  lambda m: f"{format_number(int(m.group(1)) * 0.25)} rev", text)  # "three-quarter turn"
    # "three quarters of a", "a quarter of a", "half a", "half of a", "a half".
    text = re.sub(rf"(?<![\w.])({_NUM}) (quarters|thirds|fifths|eighths|tenths)(?: of)?(?: an?| one)?\b",
                  lambda m: format_number(float(m.group(1)) * _WORD_FRACTIONS_PLURAL[m.group(2)]), text)
    text = re.sub(r"\b(?:a|one) (half|quarter|third|fifth|eighth|tenth)(?: of)?(?: an?| one| the)?\b(?! way)",
                  lambda m: format_number(_WORD_FRACTIONS[m.group(1)]), text)
    text = re.sub(r"\bhalf (?:of )?an?\b", "0.5", text)
    text = re.sub(r"(?<![\w.])(\d+)\s*/\s*(\d+)(?![\w.])",
                  lambda m: format_number(int(m.group(1)) / int(m.group(2))) if int(m.group(2)) else m.group(0), text)
    # pi: "pi/2", "2 pi", "pi", "0.5 pi", "pi over 2".
    text = re.sub(rf"(?:(?<![\w.])({_NUM})\s*\*?\s*)?(?<![a-z])pi\b(?:\s*(?:/|over)\s*({_NUM}))?",
                  lambda m: format_number(float(m.group(1) or 1) * math.pi / (float(m.group(2) or 1) or 1), 6), text)
    # A part of a turn with no article left for the passes above: "quarter circle right", "half turn".
    text = re.sub(r"(?<![\d.] )\b(?:(three)[- ])?(quarter|half) (circle|turn|rotation|revolution)\b",
                  lambda m: f"{0.75 if m.group(1) else _WORD_FRACTIONS[m.group(2)]} rev", text)
    return text


def _repair(word: str, vocabulary) -> str | None:
    """The vocabulary word one edit (Damerau) away from ``word``, if exactly one is."""
    from rapidfuzz.distance import DamerauLevenshtein  # maintained C++ edit distances

    best = [v for v in vocabulary if abs(len(v) - len(word)) <= 1 and DamerauLevenshtein.distance(word, v) <= 1]
    # "metrs" is one edit from "meters" and "metres": fine when both mean the same unit.
    meanings = {_UNIT_SPELLINGS.get(v, v) for v in best}
    return best[0] if len(meanings) == 1 else None


def _swap_repair(word: str) -> str | None:
    for i in range(len(word) - 1):
        swapped = word[:i] + word[i + 1] + word[i] + word[i + 2:]
        if swapped != word and swapped in _SWAPPED_WORDS:
            return swapped
    return None


def _repair_one(w: str) -> str:
    if w in _SPELLINGS:
        return _SPELLINGS[w]
    if w in _KEEP_WORDS or w in _FUZZY_WORDS or w in _UNIT_SPELLINGS or w in _NEVER_SPELLED or is_word(w):
        return w  # a dictionary word is never "repaired" ("changing" is not "charging")
    if 4 <= len(w) <= 9 and (swapped := _swap_repair(w)):
        return swapped
    return (len(w) >= 5 and _repair(w, _FUZZY_WORDS)) or correct(w)


def _repair_word(m: re.Match) -> str:
    w = m.group(0)
    for _ in range(3):  # a repair may be a spelling another rule knows: "ritte" -> "rite" -> "right"
        new = _repair_one(w)
        if new == w:
            break
        w = new
    return w


def _repair_units(text: str) -> str:
    # A misspelt unit right after a number: "2 metrs", "90 degres", "3 secnds".
    def fix_unit(m: re.Match) -> str:
        w = m.group("w")
        if w in _UNIT_SPELLINGS or len(w) < 5:
            return m.group(0)
        rep = _repair(w, _FUZZY_UNITS)
        return f"{m.group('num')} {rep}" if rep else m.group(0)

    return re.sub(rf"(?<![\w.])(?P<num>{_NUM})\s*(?P<w>[a-z]+)\b", fix_unit, text)


def _directions(text: str) -> str:
    for k in sorted(DIRECTION_SYNONYMS, key=len, reverse=True):
        text = re.sub(rf"(?<![\w-]){re.escape(k)}(?![\w-])", DIRECTION_SYNONYMS[k], text)
    return text


def _units(text: str) -> str:
    def canon(m: re.Match) -> str:
        return f"{m.group('num')} {_UNIT_SPELLINGS[m.group('unit')]}"

    text = _UNIT_AFTER_NUMBER.sub(canon, text)
    # "N of a turn/rotation/revolution" after fraction folding: "0.75 of a turn" -> "0.75 rev".
    text = re.sub(rf"(?<![\w.])({_NUM}) of (?:a |one )?(?:full )?(?:turn|rotation|revolution|circle|spin)\b", r"\1 rev",
                  text)
    # Compound lengths: "1 ft 6 in" -> "18 in", "1 m 20 cm" -> "120 cm" (in the smaller unit).
    from .units import LENGTH_M

    def compound(m: re.Match) -> str:
        a, ua, b, ub = float(m.group(1)), m.group(2), float(m.group(3)), m.group(4)
        fa, fb = LENGTH_M[ua], LENGTH_M[ub]
        if fa <= fb:
            return m.group(0)
        return f"{format_number(a * fa / fb + b)} {ub}"

    # "a foot and a half" -> "1 ft and 0.5" above -> "1.5 ft".
    text = re.sub(rf"(?<![\w.])({_NUM}) ({'|'.join(map(re.escape, sorted(CANONICAL_UNITS, key=len, reverse=True)))}) "
                  rf"and 0\.5(?![\w.])", lambda m: f"{format_number(float(m.group(1)) + 0.5)} {m.group(2)}", text)
    lengths = "|".join(LENGTH_UNITS)
    # To a fixed point: in "0 m 1 ft 6 in" the first pair's sum ("1 ft") pairs with what follows it.
    pair = re.compile(rf"(?<![\w.])({_NUM}) ({lengths})(?:,? and|,)? ({_NUM}) ({lengths})(?![\w/])")
    while (summed := pair.sub(compound, text)) != text:
        text = summed
    return text


_GLUED = re.compile(r"\b(turn|go|move|drive|rotate|spin|back|head|veer)(left|right|forward|forwards|backward|"
                    r"backwards|back|around|ahead)(?=\d|\b)")


def normalise(text: str) -> str:
    """The canonical form of a command, as the model reads it (see the module docstring)."""
    if not isinstance(text, str):
        raise TypeError(f"command must be text, got {type(text).__name__}")
    # One space between words from the start: the passes below match phrases with single spaces ("one turn",
    # "1 ft 6 in"), and a tab or a double space must not hide one until a second normalisation.
    text = " ".join(_fold_unicode(text).split())
    # Missing spaces: "turnleft30degrees" -> "turn left 30 degrees".
    text = _GLUED.sub(r"\1 \2", text)
    text = re.sub(r"(?<=[a-z]{3})(?=\d)", " ", text)
    text = _directions(text)
    text = re.sub(r"\bgoto\b", "go to", text)
    text = re.sub(r"\buturn\b", "u-turn", text)
    text = re.sub(r"[a-z]+", _repair_word, text)  # before the passes that look for exact words
    text = _rates(text)
    text = _numbers(text)
    text = re.sub(rf"(?<![\w.])({_NUM})(?=[a-df-z°/]|e(?![-+]?\d))", r"\1 ", text)  # "2m" -> "2 m", "90deg"
    text = _repair_units(text)
    text = _directions(text)
    text = _units(text)
    text = re.sub(r"([!?.,;:])\1+", r"\1", text)  # "!!!" -> "!"
    return " ".join(text.split())


# ---- quantities -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Quantity:
    """A number with a canonical unit as written in a normalised command ("2.5 m")."""

    text: str
    value: float
    unit: str  # "" for a bare number

    @property
    def kind(self) -> str:
        return UNIT_KIND.get(self.unit, "number")


# A full stop after a number ends a sentence ("left 90. then ..."); "2.5" is one number.
BARE_NUMBER = re.compile(rf"(?<![\w.])(?P<num>{_NUM})(?!\w|\.\d| ?(?:{_CANON_UNITS})(?![\w/]))")


def quantities(normalised: str) -> list[Quantity]:
    """Every number+unit of a normalised command, then every bare number, in order of appearance."""
    out = [Quantity(m.group(0), float(m.group("num")), m.group("unit")) for m in _ALREADY_CANON.finditer(normalised)]
    out += [Quantity(m.group("num"), float(m.group("num")), "") for m in BARE_NUMBER.finditer(normalised)]
    return out


NON_FINITE = re.compile(r"(?<![\w])(?:nan|inf|infinity|infinite|∞|1e\d+|\d+e\+?\d+)(?![\w])")


def has_non_finite(normalised: str) -> bool:
    """A command that gives NaN, infinity or an exponent as a number: never a motion."""
    return bool(NON_FINITE.search(normalised))


def normalise_messages(messages) -> list[dict]:
    """``messages`` with every user turn normalised: what the model reads, in training and at run time."""
    return [{**m, "content": normalise(m["content"])} if m.get("role") == "user" else dict(m) for m in messages]
