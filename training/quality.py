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
* Copies are exact (only trailing spaces per line ignored): a "capitalise this", "remove the extra
  spaces" or "quote the title" answer differs from its input and is not a copy. An identical output
  is still sometimes right (a list that was already sorted); the detector reports identity.
* Media detection needs a deictic reference ("the following photo", "in the picture") to something
  no input carries, a media stand-in input ("<image>", "Attached photo", a bare link), or a media
  placeholder output ("<output image>"); a painting named in the input is text the model can use.
* Refusals must open the output ("Sorry, the task involves ...", "I cannot draw ...") or disclaim a
  model's capability anywhere ("GPT model cannot ..."); apologies asked for by the task, rewrites
  of an input that already apologises, and tasks about AI models are not refusals.
* ``non_english`` looks at the instruction without its quoted material (always) and at the output
  unless the instruction asks for a translation or names another language. It needs mostly
  non-Latin letters, or >= 3 distinct lower-case French/Spanish/Portuguese/German/Italian function
  words outnumbering English ones, so proper names and code do not count.
* ``duplicate`` flags later repeats of an (instruction, input) pair, keeping the first occurrence.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

Columns = tuple[list[str], list[str], list[str]]  # instructions, inputs, outputs

# Quoted spans in an instruction are material to work on ('Translate "Où sont ..."').
_QUOTED = re.compile(r"\"[^\"]*\"|“[^”]*”|«[^»]*»|'[^']{3,}'")


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
    """Outputs with fewer than ``min_chars`` letters/digits/symbols ("", " ", "."). Pure punctuation
    of two or more characters stays: ":-)", Morse code (".. / .-") and redaction bars are answers."""

    def predicate(_ins: str, _inp: str, out: str) -> bool:
        text = out.strip()
        if _has_content(text, min_chars):
            return False
        # An all-punctuation answer longer than one character is content: ":-)", Morse "-- ---".
        return len(text) <= 1 or _has_content(text, 1)

    what = "is empty or one punctuation mark" if min_chars == 1 else f"has < {min_chars} letters/digits/symbols"
    return Detector("empty_output", f"output {what}", _per_record(predicate))


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


def _placeholder_output(_ins: str, _inp: str, out: str) -> bool:
    # Only short outputs or ones with a "<...>" tag can be placeholders; skip the regex otherwise.
    return ("<" in out or len(out) < 40) and bool(_NO_OUTPUT.search(out.strip()))


def is_placeholder_input(text: str) -> bool:
    """True for an input that stands for "there is no input" ("<noinput>", "No input", "N/A")."""
    s = text.strip()
    return bool(s) and bool(_NO_INPUT.match(s) or _NO_INPUT_TAG.search(s))


# --- copies -------------------------------------------------------------------------------------

def _norm(text: str) -> str:
    # Only trailing spaces per line are ignored: collapsing spaces or stripping quotes would call a
    # "remove the extra spaces" or "quote the title" answer a copy.
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def _copies(field: int) -> Callable[[str, str, str], bool]:
    def predicate(ins: str, inp: str, out: str) -> bool:
        src = (ins, inp)[field]
        if field == 1 and is_placeholder_input(inp):
            return False  # "N/A" -> "N/A" is a placeholder problem, reported there
        if not src or abs(len(src) - len(out)) > 0.2 * len(src) + 8:
            return False  # cheap length check before normalising
        a, b = _norm(src), _norm(out)
        return bool(a) and a == b

    return predicate


# --- media the model cannot see -----------------------------------------------------------------

_VISUAL = (
    r"(?:image|picture|photo|photograph|pic|video|audio|audio\s+clip|sound\s+clip|voice\s+recording|"
    r"recording|painting|artwork|diagram|screenshot|gif|drawing|illustration|sketch|x-?ray|scan|clip|"
    r"cartoon|comic\s+strip|meme)s?"
)
# Tables, graphs and songs are often given as text, so they only count when no input carries them.
_TEXTUAL = r"(?:graph|chart|table|figure|map|song|podcast|infographic)s?"
_DEICTIC = (
    r"(?:this|these|the\s+following|the\s+given|the\s+attached|the\s+provided|the\s+above|"
    r"the\s+below|the\s+displayed|the\s+shown|the\s+uploaded|the\s+linked|the\s+accompanying)"
)
# "describe the following photo", "the creature in the photo", "this black-and-white picture"
_TEXTUAL_END = re.compile(rf"{_TEXTUAL}$", re.I)
_MEDIA_REF = re.compile(
    rf"\b{_DEICTIC}\s+(?:[\w-]+\s+)?(?:{_VISUAL}|{_TEXTUAL})\b|\b(?:in|from|within)\s+(?:the|this)\s+{_VISUAL}\b",
    re.I,
)
# Inputs that stand for a media file instead of containing it: "Attached photo", "<image>",
# "[Photo of a bridge]", "< insert photograph here>", "![cartoon](https://...jpg)", "cat.png".
_MEDIA_INPUT = re.compile(
    rf"^\W*(?:attached|uploaded|insert(?:ed)?|see\s+(?:attached|below))?\s*(?:an?\s+|the\s+)?{_VISUAL}"
    rf"\s*(?:here|attached|file|url|link|below)?\W*$"
    rf"|<\s*(?:insert\s+)?(?:an?\s+)?(?:{_VISUAL}|url|link|attachment)\b[^>]*>"
    rf"|\[\s*(?:insert\s+)?(?:an?\s+)?(?:{_VISUAL}|url|link|attachment|link\s+to)\b[^\]]*\]"
    rf"|^\W*attached\b|!\[[^\]]*\]\(|\.(?:jpe?g|png|gif|bmp|mp3|mp4|wav|avi|mov)\b",
    re.I,
)
_URL = re.compile(r"https?://\S+|\bwww\.\S+", re.I)
_URL_TASK = re.compile(
    r"\b(?:url|urls|domain|hyperlink|http|regex|regular\s+expression|valid|shorten|link\s+to)\b", re.I)
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
    if _TEXTUAL_END.search(m.group(0)) and len(ins[m.end():].split()) >= 3:
        return False  # "the following table: Number | Name ..." carries the table in the instruction
    # The media is given as text (a table, a painting's title, a transcript) when the input carries it.
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

_CANNOT = (r"(?:cannot|can\s*not|can'?t|am\s+unable\s+to|am\s+not\s+able\s+to"
           r"|(?:do\s+not|don'?t)\s+have\s+the\s+ability)")
_UNABLE = (r"\b(?:cannot|can\s*not|can'?t|unable|not\s+able|won'?t\s+be\s+able|beyond|not\s+possible"
           r"|involves|requires)\b")
_CAPABILITY = (
    r"(?:do|perform|complete|fulfil+|provide|create|generate|draw|produce|access|browse|see|view|display|"
    r"play|show|process|carry\s+out|answer|execute|design|compose|render|set\s+up|send|open|search|"
    r"retrieve|record|take|make|help|assist|physically|visually)"
)
_REFUSAL_START = re.compile(
    rf"""^\W*(?:
        as\s+an?\s+(?:ai|artificial\s+intelligence|language\s+model|gpt)\b
      | (?:(?:i'?m|i\s+am)\s+)?sorry,?\s+(?:but\s+)?(?:i|this|that|it|the|there|we)\b[^.!?\n]{{0,80}}?{_UNABLE}
      | unfortunately,?\s+[^.!?\n]{{0,60}}?{_UNABLE}
      | i\s+{_CANNOT}\s+{_CAPABILITY}\b
      | (?:this|the)\s+(?:task|instruction|request)\s+
        (?:cannot|can\s*not|can'?t|is\s+not\s+possible|is\s+impossible|requires|involves|is\s+beyond)
      | (?:this|that)\s+is\s+(?:not\s+possible|beyond)
    )""",
    re.I | re.X,
)
# A model-capability disclaimer anywhere: "GPT model cannot ...", "cannot be fulfilled by a GPT model".
_REFUSAL_ANY = re.compile(
    r"\bas\s+an?\s+ai(?:\s+language)?\s+(?:model|assistant)\b"
    r"|\b(?:gpt|language|ai|the)\s+model\s+(?:cannot|can\s*not|can'?t|is\s+(?:unable|not\s+able|not\s+capable))"
    r"|\bnot\s+(?:possible|able)\s+for\s+(?:a|an|the|this)\s+(?:gpt|language|ai|text)\b"
    r"|\b(?:cannot|can\s*not|can'?t)\s+be\s+\w+\s+(?:by|with|using)\s+(?:a|an|the)\s+(?:gpt|language|ai|text)",
    re.I,
)
_REFUSAL_HINT = re.compile(r"\b(?:ai|gpt|model)\b", re.I)  # cheap gate before _REFUSAL_ANY
# Tasks that ask for an apology, a refusal or text about AI models get them legitimately.
_ASKS_FOR_IT = re.compile(
    r"\b(?:gpt|language\s+models?|ai|chatbot|refus\w*|apolog\w*|declin\w*|reject\w*|inappropriate|limitations?)\b",
    re.I)
_SELF_REF = re.compile(r"\b(?:task|instruction|request|model|gpt|ai)\b", re.I)
_INABILITY = re.compile(rf"{_CANNOT}|\b(?:sorry|impossible|not\s+able|unable|won'?t)\b", re.I)
_REWRITE = re.compile(
    r"^\W*(?:re-?word|rephrase|rewrite|paraphrase|edit|revise|reformulate|transform|change|make)\b", re.I)
_WORDS = re.compile(r"[\w']+")


def _refusal(ins: str, inp: str, out: str) -> bool:
    head = out.strip()[:300]
    if not head:
        return False
    hit = _REFUSAL_START.search(head) or (_REFUSAL_HINT.search(out) and _REFUSAL_ANY.search(out))
    if not hit or _ASKS_FOR_IT.search(ins):
        return False
    if hit.group(0).strip(" \t\n.,").lower()[:12] in (ins + " " + inp).lower():
        return False  # the phrase is the material being worked on ("Alter: 'The task requires ...'")
    if _SELF_REF.search(head[:200]):
        return True  # "Sorry, the task involves ...", "... cannot be done by a GPT model"
    # A first-person "I can't ..." is content when the task is about inability or rewrites a text.
    if _INABILITY.search(ins) or _REWRITE.search(ins):
        return False
    # A rewrite of an input that already apologises shares most of its words; a refusal does not.
    material = inp + " " + " ".join(_QUOTED.findall(ins))
    words = _WORDS.findall(out.lower())
    src = set(_WORDS.findall(material.lower()))
    return not (src and words and sum(w in src for w in words) >= 0.5 * len(words))


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
        if not text or text[-1] in _TERMINAL or unicodedata.category(text[-1])[0] == "S":  # emoji
            return False
        last_line = text.rsplit("\n", 1)[-1]
        words = last_line.split()
        if len(words) < min_words or _LIST_LINE.match(last_line) or _CODE_LIKE.search(last_line):
            return False
        last = words[-1]
        return last.endswith(",") or last.strip("\"'“”‘’(") in _FUNCTION_WORDS  # lower-case as written

    return Detector("truncated_output",
                    f"prose output of >= {min_words} words ending on a comma or a function word",
                    _per_record(predicate))


# --- non-English ---------------------------------------------------------------------------------

_EN = frozenset(
    "the a an and or of to in is are was were be it this that for with on as at by from not you i we "
    "they he she his her their your my our what which who how do does can will would should has have "
    "had there these those all some any each".split()
)
# High-frequency function words of other Latin-script languages that are not English words.
_FOREIGN = frozenset(w for w in (
    # French
    "le la les des du une est et dans pour pas qui que sur avec sont nous vous ils elle au aux ce cette "
    "je tu il mais ou où très être avoir fait comme plus "
    # Spanish / Portuguese
    "el los las del un una es y en por para con no se su sus lo muy pero está están soy eres qué cómo "
    "sobre como más este esta hay fue ser son también "
    "um uma são não com os da do das dos ao você mas "
    # German
    "der die das und ist nicht ein eine ich du wir sie mit von zu den dem auf für sich auch es ist "
    "bin bist sind war haben hat wie was "
    # Italian
    "il di che è e per non sono gli della delle nel con una questo questa anche"
).split() if len(w) > 1) - _EN
# Greek, Cyrillic, Arabic, Indic, CJK, Hangul ... (Latin Extended and general punctuation excluded).
_NON_LATIN = re.compile(r"[\u0370-\u1dff\u1f00-\u1fff\u2c00-\ud7ff\uf900-\ufdff\ufe70-\ufefc\uff21-\uffdc]")
_ALPHA = re.compile(r"[^\W\d_]", re.U)
_EDGE_PUNCT = "\"'“”‘’()¿¡,.;:!?"
_LANGUAGE_TASK = re.compile(
    r"\b(?:translat\w*|language|french|spanish|german|italian|portuguese|chinese|mandarin|japanese|"
    r"korean|russian|arabic|hindi|latin|dutch|greek|swedish|turkish|hebrew|polish|vietnamese|thai|"
    r"english\s+to|into\s+\w+|foreign|phrase\s+in|say\s+.+\s+in|pinyin|kanji|emoji)\b",
    re.I,
)


def is_non_english(text: str) -> bool:
    """Heuristic: mostly non-Latin letters (CJK, Cyrillic, Greek, Arabic ...), or >= 3 distinct
    French/Spanish/Portuguese/German/Italian function words outnumbering English ones 2:1."""
    if not text.isascii():
        non_latin = len(_NON_LATIN.findall(text))
        if non_latin >= 4 and non_latin / max(1, len(_ALPHA.findall(text))) > 0.5:
            return True
    if _FOREIGN.isdisjoint(text.split()):
        return False  # cheap C-level pre-check; function words rarely carry punctuation
    # Whole whitespace-separated tokens only, so URLs, e-mails and code identifiers never count, and
    # only lower-case ones, so proper names ("La Banquise", "Les 400 Coups") do not either.
    words = [t.strip(_EDGE_PUNCT) for t in text.split()]
    foreign = [w for w in words if w in _FOREIGN]
    if len(set(foreign)) < 3 or len(foreign) < 0.2 * len(words):
        return False
    return len(foreign) > 2 * sum(w.lower() in _EN for w in words)


def _non_english(ins: str, _inp: str, out: str) -> bool:
    if is_non_english(_QUOTED.sub(" ", ins)):
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
                 _per_record(_placeholder_output)),
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


def evidence(name: str, record: Mapping) -> str:
    """The part of ``record`` that made detector ``name`` fire, for reports and drop logs."""
    ins, inp, out = (_text(record.get(k)) for k in ("instruction", "input", "output"))

    def around(text: str, m: re.Match | None, before: int = 20, after: int = 80) -> str | None:
        if m is None:
            return None
        return " ".join(text[max(0, m.start() - before): m.end() + after].split())

    found = None
    if name == "unseen_media":
        found = (around(out, _MEDIA_OUTPUT.search(out), 0, 40) or around(inp, _MEDIA_INPUT.search(inp), 20, 40)
                 or around(inp, _URL.search(inp), 0, 0) or around(ins, _MEDIA_REF.search(ins), 20, 20))
    elif name == "merged_instructions":
        found = around(out, _LEAK_NUMBERED.search(out) or _LEAK_HEADER.search(out), 0, 100) or around(
            inp, _LEAK_NUMBERED.search(inp), 0, 100)
    elif name == "refusal":
        m = _REFUSAL_START.search(out.strip()[:300])
        found = around(out.strip(), m, 0, 60) if m else around(out, _REFUSAL_ANY.search(out), 20, 20)
    elif name == "truncated_output":
        found = "…" + " ".join(out.split())[-70:]
    elif name in ("placeholder_input", "output_copies_input"):
        found = repr(inp.strip()[:120])
    elif name in ("empty_output", "placeholder_output", "output_copies_instruction"):
        found = repr(out.strip()[:120])
    elif name == "non_english":
        found = " ".join((ins if is_non_english(_QUOTED.sub(" ", ins)) else out).split())[:120]
    return found or DETECTORS[name].description


def run_detectors(records: Sequence[Mapping], names: Iterable[str] | None = None) -> dict[str, list[int]]:
    """Run the named detectors (all when ``names`` is None) and map each name to flagged indices."""
    chosen = list(DETECTORS) if names is None else list(names)
    unknown = [n for n in chosen if n not in DETECTORS]
    if unknown:
        raise KeyError(f"unknown detector(s) {unknown}; available: {sorted(DETECTORS)}")
    cols = columns(records)
    return {name: DETECTORS[name].flag(*cols) for name in chosen}
