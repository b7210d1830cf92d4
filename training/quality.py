"""Named low-quality detectors for instruction/input/output records.

Pure Python + regex (no spaCy, no ROS) so the robot dataset builder can run them as a cheap filter
step and the Alpaca analysis can count them. Every detector answers "which record indices look
broken in this specific way"; callers pick detectors by name:

    from training.quality import run_detectors
    flagged = run_detectors(records, names=["empty_output", "refusal"])  # {name: [indices]}

Assumptions, chosen to keep precision high (a detector that flags 30 % of a dataset is wrong):

* Short outputs are legitimate. Classification answers ("Positive", "2") and robot action lines
  ("move forward 2 m", "stop") are never "near empty" or "truncated": ``empty_output`` needs an
  output with no letter, digit or symbol at all, and ``truncated_output`` needs a long (>= 12 words
  by default) prose ending that stops on a comma or a function word ("... and the").
* Copies are compared case-sensitively after collapsing whitespace and surrounding quotes, so a
  "capitalise this" task whose output differs only in case is not a copy.
* Media detection needs a deictic reference ("the following photo", "in the picture") to something
  the text does not contain; a painting named in the input is text the model can use.
* ``non_english`` looks at the instruction (always) and the output unless the instruction asks for
  a translation or names another language.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

Columns = tuple[list[str], list[str], list[str]]  # instructions, inputs, outputs


@dataclass(frozen=True)
class Detector:
    """A named check. ``flag`` maps the three columns to the sorted indices it flags."""

    name: str
    description: str
    flag: Callable[[list[str], list[str], list[str]], list[int]]

    def __call__(self, records: Sequence[Mapping]) -> list[int]:
        return self.flag(*columns(records))


def columns(records: Sequence[Mapping]) -> Columns:
    """Split records into instruction/input/output string lists (missing or None -> "")."""

    def col(key: str) -> list[str]:
        return [_text(r.get(key)) for r in records]

    return col("instruction"), col("input"), col("output")


def _text(value: object) -> str:
    return "" if value is None else value if isinstance(value, str) else str(value)


def _per_record(predicate: Callable[[str, str, str], bool]):
    """Lift a per-record predicate to a column detector."""

    def flag(ins: list[str], inp: list[str], out: list[str]) -> list[int]:
        return [i for i, row in enumerate(zip(ins, inp, out)) if predicate(*row)]

    return flag


# --- empty / placeholder ------------------------------------------------------------------------

def _has_content(text: str, min_chars: int = 1) -> bool:
    """True when ``text`` holds at least ``min_chars`` letters, digits or symbols (emoji count)."""
    n = 0
    for ch in text:
        if ch.isalnum() or unicodedata.category(ch)[0] == "S":
            n += 1
            if n >= min_chars:
                return True
    return False


def empty_output(min_chars: int = 1) -> Detector:
    """Outputs with fewer than ``min_chars`` content characters ("", " ", "." ...)."""
    return Detector(
        "empty_output",
        f"output has fewer than {min_chars} letter/digit/symbol characters",
        _per_record(lambda _i, _x, out: not _has_content(out, min_chars)),
    )


# "<noinput>", "No input required.", "N/A", '"<noinput>"', "\<noinput\>", "(no input)", "None" ...
_NO_INPUT = re.compile(
    r"""^[\W_]*(?:no[\s_-]*input(?:\s+(?:is\s+)?(?:required|needed|necessary|provided|given))?
        |n/?a|none|null|nil|empty|blank|nothing)[\W_]*$""",
    re.I | re.X,
)
_NO_INPUT_TAG = re.compile(r"<\s*\\?\s*no\s*input\s*\\?\s*>", re.I)
_NO_OUTPUT = re.compile(
    r"^[\W_]*(?:no[\s_-]*output(?:\s+(?:is\s+)?(?:required|needed|necessary))?|n/?a|<\s*no\s*output\s*>)[\W_]*$"
    r"|<\s*no\s*output\s*>",
    re.I,
)


def is_placeholder_input(text: str) -> bool:
    """True for an input that stands for "there is no input" ("<noinput>", "No input", "N/A")."""
    s = text.strip()
    return bool(s) and bool(_NO_INPUT.match(s) or _NO_INPUT_TAG.search(s))


# --- copies -------------------------------------------------------------------------------------

_QUOTES = "\"'`“”‘’«» \t\n"


def _norm(text: str) -> str:
    return " ".join(text.split()).strip(_QUOTES)


def _copies(field: int) -> Callable[[str, str, str], bool]:
    def predicate(ins: str, inp: str, out: str) -> bool:
        src = (ins, inp)[field]
        if field == 1 and is_placeholder_input(inp):
            return False  # "N/A" -> "N/A" is a placeholder problem, reported there
        a, b = _norm(src), _norm(out)
        return bool(a) and a == b

    return predicate


# --- media the model cannot see -----------------------------------------------------------------

_MEDIA = (
    r"(?:image|picture|photo|photograph|pic|video|audio|audio\s+clip|sound\s+clip|voice\s+recording|"
    r"recording|painting|artwork|diagram|screenshot|gif|graph|chart|drawing|illustration|sketch|"
    r"x-?ray|scan|clip|podcast|song|map|table|figure|infographic)s?"
)
_DEICTIC = (
    r"(?:this|these|that|the\s+following|the\s+given|the\s+attached|the\s+provided|the\s+above|"
    r"the\s+below|the\s+displayed|the\s+shown|the\s+uploaded|the\s+linked|the\s+accompanying)"
)
# "describe the following photo", "the creature in the photo", "the object shown in the image"
_MEDIA_REF = re.compile(
    rf"\b{_DEICTIC}\s+(?:\w+\s+)?{_MEDIA}\b|\b(?:in|from|within)\s+(?:the|this)\s+{_MEDIA}\b",
    re.I,
)
# Inputs that stand for a media file instead of containing text.
_MEDIA_INPUT = re.compile(
    rf"^[\W_]*(?:attached|uploaded|see\s+(?:attached|below|above)|link\s+to|insert|input)?\s*"
    rf"(?:an?\s+|the\s+)?{_MEDIA}\b.{{0,60}}$"
    rf"|<\s*(?:{_MEDIA}|url|link|attachment)[^>]*>|\[\s*(?:{_MEDIA}|url|link|attachment)[^\]]*\]"
    rf"|\battached\b|\b(?:image|photo|picture|video|audio)\s*(?:url|link|file)\b"
    rf"|\.(?:jpe?g|png|gif|bmp|mp3|mp4|wav|avi|mov)\b",
    re.I,
)
_URL = re.compile(r"https?://\S+|\bwww\.\S+", re.I)
_URL_TASK = re.compile(r"\b(?:url|urls|domain|hyperlink|http|regex|regular\s+expression|valid|shorten)\b", re.I)
# Tables/graphs/songs/maps are often given as text; only the visual/audio nouns need a deictic alone.
_TEXTUAL_MEDIA = re.compile(r"\b(?:table|figure|song|map|chart|graph|podcast)s?\b", re.I)
_MEDIA_OUTPUT = re.compile(r"^\s*[<\[(]\s*(?:output\s+)?(?:image|picture|photo|video|audio)\b[^>\])]*[>\])]", re.I)


def _unseen_media(ins: str, inp: str, out: str) -> bool:
    inp_s = inp.strip()
    if _MEDIA_OUTPUT.search(out):
        return True  # "<output image>": the generator produced a placeholder instead of content
    if inp_s and _MEDIA_INPUT.search(inp_s) and len(inp_s) < 200:
        return True  # "Attached photo", "<Image>", "image.jpg"
    if _URL.search(inp_s) and len(_URL.sub("", inp_s).split()) <= 3 and not _URL_TASK.search(ins):
        return True  # "Summarize the following article" + a bare link it cannot open
    m = _MEDIA_REF.search(ins)
    if not m:
        return False
    if _TEXTUAL_MEDIA.fullmatch(m.group(0).split()[-1]) and inp_s:
        return False  # "the following table" with the table in the input
    # The media is given as text (a painting's title, a transcript) when the input carries it.
    return not inp_s or is_placeholder_input(inp_s)


# --- merged records (generation leakage) ---------------------------------------------------------

# Self-Instruct generated numbered blocks "11. Instruction: ... 11. Input: ... 11. Output: ...";
# when the split fails, the next task leaks into the output (or input) of the previous one.
_LEAK_NUMBERED = re.compile(r"(?im)^\s*\d+\s*\.\s*(?:instruction|input|output)\s*:")
_LEAK_HEADER = re.compile(r"(?im)^\s*(?:#+\s*)?instruction\s*:")
_ABOUT_TASKS = re.compile(r"\b(?:instructions?|tasks?|prompts?|inputs?|outputs?|examples?)\b", re.I)


def _merged(ins: str, inp: str, out: str) -> bool:
    if _LEAK_NUMBERED.search(out) or _LEAK_NUMBERED.search(inp):
        return True
    # A bare "Instruction:" header is fine when the task is to write instructions/examples.
    return bool(_LEAK_HEADER.search(out)) and not _ABOUT_TASKS.search(ins)


# --- refusals ------------------------------------------------------------------------------------

_REFUSAL_START = re.compile(
    r"""^\W*(?:
        as\s+an?\s+(?:ai|artificial\s+intelligence|language\s+model|gpt)
      | (?:i'?m|i\s+am)\s+(?:sorry|afraid|unable|not\s+able)
      | sorry,?\s+(?:but\s+)?(?:i|this|that|it)
      | i\s+(?:cannot|can'?t|can\s+not|do\s+not\s+have|don'?t\s+have|am\s+not\s+able)
      | unfortunately,?\s+(?:i|this|it|that|there)
      | (?:this|the)\s+(?:task|instruction|request|question)\s+(?:cannot|can\s*not|can'?t|is\s+not\s+possible|is\s+impossible|requires|involves|is\s+beyond)
      | (?:it\s+is|it'?s)\s+(?:not\s+possible|impossible)
      | (?:this|that)\s+is\s+(?:not\s+possible|impossible|beyond)
      | not\s+(?:possible|applicable)\b
    )""",
    re.I | re.X,
)
_REFUSAL_ANY = re.compile(
    r"\bas\s+an?\s+ai(?:\s+language)?\s+(?:model|assistant)\b"
    r"|\b(?:gpt|language|ai)\s+model\s+(?:cannot|can\s*not|can'?t|is\s+(?:unable|not\s+able|not\s+capable))"
    r"|\bnot\s+(?:possible|able)\s+for\s+(?:a|an|the|this)\s+(?:gpt|language|ai)\b"
    r"|\bcannot\s+be\s+(?:completed|done|performed)\s+by\s+(?:a|an|the)\s+(?:gpt|language|ai)\b",
    re.I,
)


def _refusal(ins: str, inp: str, out: str) -> bool:
    head = out.strip()[:300]
    if not head:
        return False
    hit = _REFUSAL_START.search(head) or _REFUSAL_ANY.search(out)
    # Rewrite tasks whose input already says "I'm sorry ..." are answers, not refusals.
    return bool(hit) and hit.group(0).strip().lower()[:12] not in inp.lower()


# --- truncation ----------------------------------------------------------------------------------

_TERMINAL = set(".!?…\"'”’)]}>`*:;|-~=")
_FUNCTION_WORDS = frozenset(
    "a an the and or but nor of to in on at by for with from into onto as than that which who whose "
    "whom is are was were be been being has have had do does did will would can could should may "
    "might must their its his her our your my this these those such very so if because while".split()
)
_CODE_LIKE = re.compile(r"[{};=]|^\s*(?:def|class|function|import|for|while|if|return)\b|\(\s*\)", re.M)
_LIST_LINE = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")


def truncated_output(min_words: int = 12) -> Detector:
    """Outputs cut off mid-sentence: a prose last line of >= ``min_words`` words ending on a comma
    or a function word. Short answers, list items, poems and code never qualify."""

    def predicate(_ins: str, _inp: str, out: str) -> bool:
        text = out.rstrip()
        if not text or text[-1] in _TERMINAL or unicodedata.category(text[-1])[0] == "S":
            return False
        last_line = text.rsplit("\n", 1)[-1]
        words = last_line.split()
        if len(words) < min_words or _LIST_LINE.match(last_line) or _CODE_LIKE.search(last_line):
            return False
        last = words[-1]
        return last.endswith(",") or last.lower().strip("\"'“”‘’(") in _FUNCTION_WORDS

    return Detector("truncated_output", predicate.__doc__ or truncated_output.__doc__.split("\n")[0], _per_record(predicate))


# --- non-English ---------------------------------------------------------------------------------

_EN = frozenset(
    "the a an and or of to in is are was were be it this that for with on as at by from not you i we "
    "they he she his her their your my our what which who how do does can will would should has have "
    "had there these those all some any each".split()
)
# High-frequency function words of other Latin-script languages that are not English words.
_FOREIGN = frozenset(
    # French
    "le la les des du une est et dans pour pas qui que sur avec sont nous vous ils elle au aux ce cette "
    "je tu il mais ou où très être avoir fait comme plus "
    # Spanish / Portuguese
    "el los las del una es y en por para con no se su sus lo muy pero está están soy eres qué cómo "
    "um uma são não com os da do das dos ao você mas "
    # German
    "der die das und ist nicht ein eine ich du wir sie mit von zu den dem auf für sich auch es ist "
    "bin bist sind war haben hat wie was "
    # Italian
    "il di che è e per non sono gli della delle nel con una questo questa anche".split()
) - _EN
_NON_LATIN = re.compile(r"[\u0370-\u1dff\u1f00-\u1fff\u2c00-\ud7ff\uf900-\ufdff\ufe70-\ufefc\uff21-\uffdc]")
_ALPHA = re.compile(r"[^\W\d_]", re.U)


def _word_re(words: frozenset[str]) -> re.Pattern[str]:
    return re.compile(r"(?<!\w)(?:" + "|".join(sorted(map(re.escape, words), key=len, reverse=True)) + r")(?!\w)", re.I)


_EN_RE, _FOREIGN_RE = _word_re(_EN), _word_re(_FOREIGN)
_LANGUAGE_TASK = re.compile(
    r"\b(?:translat\w*|language|french|spanish|german|italian|portuguese|chinese|mandarin|japanese|"
    r"korean|russian|arabic|hindi|latin|dutch|greek|swedish|turkish|hebrew|polish|vietnamese|thai|"
    r"english\s+to|into\s+\w+|foreign|phrase\s+in|say\s+.+\s+in|pinyin|kanji|emoji)\b",
    re.I,
)


def is_non_english(text: str) -> bool:
    """Heuristic: mostly non-Latin letters (CJK, Cyrillic, Greek, Arabic ...), or at least three
    function words of French/Spanish/Portuguese/German/Italian and more than twice the English ones."""
    if not text.isascii():
        non_latin = len(_NON_LATIN.findall(text))
        if non_latin >= 4 and non_latin / max(1, len(_ALPHA.findall(text))) > 0.5:
            return True
    foreign = len(_FOREIGN_RE.findall(text))
    return foreign >= 3 and foreign > 2 * len(_EN_RE.findall(text))


def _non_english(ins: str, _inp: str, out: str) -> bool:
    if is_non_english(ins):
        return True
    return not _LANGUAGE_TASK.search(ins) and is_non_english(out)


# --- duplicates ----------------------------------------------------------------------------------

def _duplicates(ins: list[str], inp: list[str], _out: list[str]) -> list[int]:
    """Later repeats of an (instruction, input) pair seen earlier (case and spacing ignored)."""
    seen: set[tuple[str, str]] = set()
    dup = []
    for i, key in enumerate(zip(ins, inp)):
        k = (" ".join(key[0].lower().split()), " ".join(key[1].lower().split()))
        if k in seen:
            dup.append(i)
        seen.add(k)
    return dup


DETECTORS: dict[str, Detector] = {
    d.name: d
    for d in (
        empty_output(),
        Detector("placeholder_output", 'output is a placeholder such as "<nooutput>", "No output", "N/A"',
                 _per_record(lambda _i, _x, out: bool(_NO_OUTPUT.search(out.strip())))),
        Detector("placeholder_input", 'input stands for "no input" ("<noinput>", "No input", "N/A")',
                 _per_record(lambda _i, inp, _o: is_placeholder_input(inp))),
        Detector("output_copies_instruction", "output repeats the instruction verbatim", _per_record(_copies(0))),
        Detector("output_copies_input", "output repeats the (real) input verbatim", _per_record(_copies(1))),
        Detector("unseen_media", "refers to an image, audio, video or URL the text model cannot see",
                 _per_record(_unseen_media)),
        Detector("merged_instructions", "another generated task (Instruction:/Input:/Output:) leaked into the record",
                 _per_record(_merged)),
        Detector("refusal", 'output refuses or disclaims ("As an AI language model", "I\'m sorry, I cannot")',
                 _per_record(_refusal)),
        truncated_output(),
        Detector("non_english", "instruction, or output of a non-translation task, is not English",
                 _per_record(_non_english)),
        Detector("duplicate", "repeats an earlier (instruction, input) pair", _duplicates),
    )
}


def run_detectors(records: Sequence[Mapping], names: Iterable[str] | None = None) -> dict[str, list[int]]:
    """Run the named detectors (all when ``names`` is None) and map each name to flagged indices."""
    chosen = list(DETECTORS) if names is None else list(names)
    unknown = [n for n in chosen if n not in DETECTORS]
    if unknown:
        raise KeyError(f"unknown detector(s) {unknown}; available: {sorted(DETECTORS)}")
    cols = columns(records)
    return {name: DETECTORS[name].flag(*cols) for name in chosen}
