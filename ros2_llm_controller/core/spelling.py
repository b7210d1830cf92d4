"""Typing slips in words the robot's vocabulary does not repair by rule: "pivlt" -> "pivot",
"shpukd" -> "should", "nveer" -> "never", "heyyy" -> "hey".

An English dictionary decides what is a word (pyspellchecker's frequency list, MIT, offline; its
spellings are American, so "centre" becomes "center"): a word in it is never changed, so "light"
stays "light" and "change" stays "change" (a rule-only repair cannot know that). An unknown word of
four letters or more becomes a word one edit away: a negation with the same first letter
("nthing" -> "nothing": losing one would turn a refusal into a motion), else the most frequent, the
robot's own words counting three times and two swapped letters, the commonest slip, a hundred
times ("wiat" -> "wait", not "what"; "vere" -> "were", not "veer"; "halp" -> "help", not
"half"). From six letters, two edits, but only into the robot's own words ("rortae" ->
"rotate"), so a place name such as "ensuite" is not turned into "ensure". Rare
dictionary entries ("aortae") are not offered. Abbreviations, units, robot words the dictionary
lacks ("lidar", "odom"), contraction stems ("shouldn") and non-finite words ("nan", "inf") are never
touched. Used by ``normalise`` only.
"""

from __future__ import annotations

import re
from functools import lru_cache

# Words a command to this robot is made of: weighted up when a slip is near one of them.
DOMAIN_WORDS = frozenset("""
move go drive roll travel proceed advance head turn rotate spin pivot swivel wheel swing veer curve arc circle
square sweep bend swerve forward backward back reverse ahead straight left right clockwise counterclockwise
around degrees degree meters metres meter metre seconds second minutes minute radians radian feet foot inches
inch yards yard speed velocity rate stop halt freeze again twice undo continue resume battery charge charging
obstacles obstacle position status where what kitchen bedroom office station living room door front dock
please should think then after afterwards finally first next wait pause robot yourself while turning rotating
through times once more repeat place previous return start started starting navigate location charger docking
entrance lounge study quarter half full revolution revolutions rotation slowly quickly slow fast distance
exactly about
""".split())
_DOMAIN_SORTED = sorted(DOMAIN_WORDS)  # the two-edit search's choices, in a fixed order
# Words that make a command a refusal: never corrected, and preferred when a slip with the same first
# letter is one edit from one of them.
NEGATIONS = frozenset("never not nothing nowhere neither nor none nobody dont don't cannot cant can't won't wont "
                      "didnt doesnt shouldnt".split())
# Never "corrected" either: abbreviations people type and words the normaliser reads as they are.
_LEAVE = frozenset("""
nan inf infinity rpm mph kph kmh deg degs rad rads rev revs sec secs min mins hr hrs cm mm km ft yd yds
pls plz thx thanks ok okay isnt arent wasnt ccw cw fwd bck
lidar lidars odom odometry roomba turtlebot wifi sitrep diff imu ros rviz gps sonar cmd vel teleop goto
shouldn couldn wouldn doesn didn isn aren wasn weren haven hasn hadn mustn needn mightn shan
woah whoa yo yeah nope nah lol omg btw asap cuz thru tho ya gonna wanna gotta lemme gimme kinda sorta dunno cmon
""".split())
# Texting spellings that no edit distance reaches.
_SLANG = {"urself": "yourself", "yourslef": "yourself"}
_RARE = 200  # dictionary words seen fewer times than this are not offered as corrections
_DOMAIN_WEIGHT = 3
_SWAP_WEIGHT = 100  # two letters swapped is the commonest slip: "wiat" is "wait", not "what"
_MIN_LEN = 4
_TWO_EDITS_FROM = 6
_REPEATS = re.compile(r"(.)\1{2,}")


@lru_cache(maxsize=1)
def _checker():
    from spellchecker import SpellChecker  # maintained, offline English frequency list

    return SpellChecker(distance=1)


def load() -> None:
    """Read the dictionary now (0.2 s) rather than on the first misspelt command."""
    _checker()


def is_word(word: str) -> bool:
    return word in _LEAVE or word in DOMAIN_WORDS or word in NEGATIONS or word in _checker()


def _swaps(word: str) -> set[str]:
    return {word[:i] + word[i + 1] + word[i] + word[i + 2:] for i in range(len(word) - 1)}


@lru_cache(maxsize=4096)
def correct(word: str) -> str:
    """``word`` (lower case letters) or the word it was meant to be; see the module docstring."""
    if word in _SLANG:
        return _SLANG[word]
    if len(word) < _MIN_LEN or is_word(word):
        return word
    for squeezed in (_REPEATS.sub(r"\1\1", word), _REPEATS.sub(r"\1", word)):  # "offff" -> "off", "heyyy" -> "hey"
        if squeezed != word and is_word(squeezed):
            return squeezed
    sp = _checker()
    freq = sp.word_frequency
    edits = set(sp.edit_distance_1(word))
    cands = [c for c in edits & (DOMAIN_WORDS | NEGATIONS) | sp.known(edits)
             if c in DOMAIN_WORDS or c in NEGATIONS or freq[c] >= _RARE]
    if cands:
        swaps = _swaps(word)

        def rank(c: str) -> tuple:
            weight = (freq[c] if c in freq else 1) * (_DOMAIN_WEIGHT if c in DOMAIN_WORDS else 1)
            weight *= _SWAP_WEIGHT if c in swaps else 1
            return (c in NEGATIONS and c[0] == word[0], weight, c)

        return max(cands, key=rank)
    if len(word) >= _TWO_EDITS_FROM:
        # Two edits, into the robot's own words only (a C++ distance over ~200 words, not the 10^5
        # strings pyspellchecker would enumerate).
        from rapidfuzz import process
        from rapidfuzz.distance import DamerauLevenshtein

        near = process.extract(word, _DOMAIN_SORTED, scorer=DamerauLevenshtein.distance, score_cutoff=2,
                               limit=None)
        if near:
            return min(near, key=lambda m: (m[1], m[0]))[0]
    return word
