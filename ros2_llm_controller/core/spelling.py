"""Typing slips in words the robot's vocabulary does not repair by rule: "pivlt" -> "pivot",
"shpukd" -> "should", "roobt" -> "robot", "heyyy" -> "hey".

An English dictionary decides what is a word (pyspellchecker's frequency list, MIT, offline): a
word in it is never changed, so "light" stays "light" and "change" stays "change" (a rule-only
repair cannot know that). An unknown word of four letters or more becomes the nearest word one
edit away (two edits from six letters), the robot's own vocabulary first, then the most frequent;
rare dictionary entries ("aortae") are not offered. Abbreviations, units, robot words the
dictionary lacks ("lidar", "odom") and non-finite words ("nan", "inf") are never touched. Used by ``normalise`` only.
"""

from __future__ import annotations

import re
from functools import lru_cache

# Words a command to this robot is made of: preferred when a slip is as close to one of them as to
# another word ("weel" -> "wheel", not "well").
DOMAIN_WORDS = frozenset("""
move go drive roll travel proceed advance head turn rotate spin pivot swivel wheel swing veer curve arc circle
square sweep bend swerve forward backward back reverse ahead straight left right clockwise counterclockwise around degrees degree
meters metres meter metre seconds second minutes minute radians radian feet foot inches inch yards yard speed
velocity rate stop halt freeze again twice undo continue resume battery charge charging obstacles obstacle
position status where what kitchen bedroom office station living room door front dock please should think
then after afterwards finally first next wait pause robot yourself while turning rotating through times once
more repeat place previous return start started starting navigate location charger docking entrance lounge
study quarter half full revolution revolutions rotation slowly quickly slow fast distance exactly about
""".split())
# Never "corrected": abbreviations people type and words the normaliser reads as they are.
_LEAVE = frozenset("""
nan inf infinity rpm mph kph kmh deg degs rad rads rev revs sec secs min mins hr hrs cm mm km ft yd yds
pls plz thx thanks ok okay dont didnt doesnt wont cant shouldnt isnt arent wasnt never ccw cw fwd bck
lidar lidars odom odometry roomba turtlebot wifi sitrep diff imu ros rviz gps sonar cmd vel teleop
shouldn couldn wouldn doesn didn isn aren wasn weren haven hasn hadn mustn needn mightn shan
woah whoa yo yeah nope nah lol omg btw asap cuz thru tho ya gonna wanna gotta lemme gimme kinda sorta dunno
""".split())
# Texting spellings that no edit distance reaches.
_SLANG = {"urself": "yourself", "yourslef": "yourself"}
_RARE = 200  # dictionary words seen fewer times than this are not offered as corrections
_COMMON = 2000  # two-edit corrections only to words at least this frequent
_MIN_LEN = 4
_TWO_EDITS_FROM = 6
_REPEATS = re.compile(r"(.)\1{2,}")


@lru_cache(maxsize=1)
def _checker():
    from spellchecker import SpellChecker  # maintained, offline English frequency list

    return SpellChecker(distance=1)


@lru_cache(maxsize=1)
def _common_words() -> list[str]:
    freq = _checker().word_frequency
    return sorted({w for w, n in freq.items() if n >= _COMMON and w.isalpha()} | DOMAIN_WORDS)


def is_word(word: str) -> bool:
    return word in _LEAVE or word in DOMAIN_WORDS or word in _checker()


@lru_cache(maxsize=4096)
def correct(word: str, keep: frozenset[str] = frozenset()) -> str:
    """``word`` (lower case letters) or the word it was meant to be; see the module docstring."""
    if word in _SLANG:
        return _SLANG[word]
    if len(word) < _MIN_LEN or word in keep or is_word(word):
        return word
    squeezed = _REPEATS.sub(r"\1", word)  # "heyyy" -> "hey", "soooo" -> "so"
    if squeezed != word and is_word(squeezed):
        return squeezed
    sp = _checker()
    freq = sp.word_frequency

    def offered(edits) -> list[str]:
        edits = set(edits)
        return [c for c in edits & DOMAIN_WORDS | sp.known(edits) if c in DOMAIN_WORDS or freq[c] >= _RARE]

    cands = offered(sp.edit_distance_1(word))
    if not cands and len(word) >= _TWO_EDITS_FROM:
        # Two edits: pyspellchecker would enumerate ~10^5 strings (0.5 s); a C++ distance over the
        # common words takes milliseconds.
        from rapidfuzz import process
        from rapidfuzz.distance import DamerauLevenshtein

        cands = [c for c, _, _ in process.extract(word, _common_words(), scorer=DamerauLevenshtein.distance,
                                                  score_cutoff=2, limit=None)]
    if not cands:
        return word
    return max(cands, key=lambda c: (c in DOMAIN_WORDS, freq[c] if c in freq else 0, c))
