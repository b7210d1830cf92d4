"""Length statistics: word and token counts, summaries, and output lengths per task type."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from collections.abc import Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from training.stats import percentiles

log = logging.getLogger(__name__)

STAT_KEYS = ("min", "p25", "median", "mean", "p75", "p95", "max")
NO_VERB = "(no verb)"  # task label for instructions without a root verb (mostly questions)


def word_counts(texts: Sequence[str]) -> np.ndarray:
    """Whitespace-separated words per text."""
    return np.fromiter((len(t.split()) for t in texts), dtype=np.int64, count=len(texts))


def token_counts(texts: Sequence[str], tokenizer, batch_size: int = 4096, desc: str = "tokenize") -> np.ndarray:
    """Tokens per text (no special tokens) with a fast tokenizer, in batches."""
    out = np.zeros(len(texts), dtype=np.int64)
    for start in tqdm(range(0, len(texts), batch_size), desc=desc, unit="batch"):
        batch = list(texts[start:start + batch_size])
        ids = tokenizer(batch, add_special_tokens=False, return_attention_mask=False)["input_ids"]
        out[start:start + len(batch)] = [len(x) for x in ids]
    return out


def summarize(values: np.ndarray) -> dict[str, float]:
    """min/p25/median/mean/p75/p95/max (floats rounded to 0.01; counts stay integral)."""
    if len(values) == 0:
        return {k: 0.0 for k in STAT_KEYS}
    p25, med, p75, p95 = percentiles(values, [0.25, 0.5, 0.75, 0.95])
    stats = {"min": values.min(), "p25": p25, "median": med, "mean": values.mean(), "p75": p75, "p95": p95,
             "max": values.max()}
    return {k: round(float(v), 2) for k, v in stats.items()}


def top_verbs(pairs: Sequence[tuple[str | None, str | None]], n: int = 20) -> list[list]:
    """[[verb, count], ...] for the ``n`` most frequent root verbs (instructions without one skipped)."""
    return [[v, c] for v, c in Counter(v for v, _ in pairs if v).most_common(n)]


def top_verb_objects(pairs: Sequence[tuple[str | None, str | None]], n: int = 30) -> list[list]:
    """[[verb, object, count], ...] for the ``n`` most frequent verb-object pairs."""
    return [[v, o, c] for (v, o), c in Counter(p for p in pairs if p[0] and p[1]).most_common(n)]


def by_task(verbs: Sequence[str | None], values: np.ndarray, tasks: Sequence[str]) -> dict[str, dict]:
    """{task: {"mean", "median", "n"}} of ``values`` for each task in ``tasks`` (in that order)."""
    df = pd.DataFrame({"task": [v or NO_VERB for v in verbs], "value": values})
    g = df[df.task.isin(set(tasks))].groupby("task")["value"].agg(["mean", "median", "size"])
    return {t: {"mean": round(float(g.at[t, "mean"]), 2), "median": round(float(g.at[t, "median"]), 2),
                "n": int(g.at[t, "size"])} for t in tasks if t in g.index}


def load_tokenizer(spec: str | None):
    """A fast HF tokenizer from a path or hub id, or the embedded model's when ``spec`` is None.

    Returns ``(tokenizer, description)``; ``(None, reason)`` when nothing loads, so the caller can
    report word counts only instead of failing the whole analysis.
    """
    source = spec
    if source is None:
        try:  # lazy: the analysis must not need the controller package to be importable
            from ros2_llm_controller.core.model_store import resolve_model

            source = resolve_model("embedded")
        except Exception as exc:  # ImportError, missing cache, no network ...
            msg = (f"embedded model tokenizer unavailable ({type(exc).__name__}: {exc}); "
                   "pass --tokenizer PATH_OR_ID for token counts")
            log.warning(msg)
            return None, msg
    try:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(source)
    except Exception as exc:  # OSError for missing files, ValueError for bad configs, hub errors
        msg = f"tokenizer {source!r} could not be loaded ({type(exc).__name__}: {exc}); word counts only"
        log.warning(msg)
        return None, msg
    where = f"the embedded model's ({Path(source).name})" if spec is None else repr(spec)
    return tok, f"{where}, {type(tok).__name__}, vocab {len(tok):,}"
