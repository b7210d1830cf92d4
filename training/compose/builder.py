"""Candidates -> filtered, split, written dataset (``data/robot/{train,validation,test}.jsonl``, ``stats.json``).

Filters, in order, each counted in stats.json under ``removed``:

* ``quality:<name>``: the Alpaca detectors of ``training/quality.py``;
* ``length``: command 2-200 characters, answer at most 120;
* ``grammar``: ``core.grammar.check_answer`` rejects the answer for its command (the copy rule: every
  quantity, direction and place word of the answer comes from the normalised command), or the answer of
  an earlier turn for its command;
* ``parse_back``: the v2 parser does not read the answer as the plan the generator meant;
* ``no_held_out`` (test only): a test candidate that used no held-out phrasing, operator or value;
* ``in_other_split``: the normalised command is already in the test split;
* ``near_duplicate``: ROUGE-L >= 0.7 against a kept command with the same answer and history.

The test split is built first from contexts that may use held-out options; train and validation
never see them (``choice.Ctx``). The course's five seed instructions open the training split.
"""

from __future__ import annotations

import json
import random
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

from ros2_llm_controller.core.config import DEFAULT_SYSTEM_PROMPT
from ros2_llm_controller.core.grammar import check_answer
from ros2_llm_controller.core.normalise import normalise
from ros2_llm_controller.core.parser import ParseError, parse_answer

from ..quality import run_detectors
from .choice import Ctx
from .intents import Fixed, Plan
from .operators import case, filler, protected, typo
from .tasks import COURSE_SEEDS, Candidate, generate

# output_copies_instruction is left out: "Stop" -> "stop" is a right answer here.
QUALITY_DETECTORS = ("empty_output", "refusal", "unseen_media", "non_english", "merged_instructions")
ROUGE_THRESHOLD = 0.7
_WORD = re.compile(r"[a-z0-9.]+|[^\sa-z0-9]")


def rouge_l(a: list[str], b: list[str]) -> float:
    """ROUGE-L F1 of two token lists (longest common subsequence), as Self-Instruct filters with."""
    if not a or not b:
        return 0.0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    lcs = prev[-1]
    if lcs == 0:
        return 0.0
    p, r = lcs / len(a), lcs / len(b)
    return 2 * p * r / (p + r)


def tokens(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def key(text: str) -> str:
    """What makes two commands the same for the split: the normalised text, punctuation dropped."""
    return " ".join(w for w in tokens(normalise(text)) if w[0].isalnum())


def check(c: Candidate) -> str | None:
    """Why the candidate fails the grammar or the parse-back check (None: it passes)."""
    for user, intent in [*c.history, (c.user, c.intent)]:
        if check_answer(user, intent.answer()) is not None:
            return "grammar"
        try:
            parsed = parse_answer(intent.answer())
        except ParseError:
            return "parse_back"
        if not intent.matches(parsed):
            return "parse_back"
    return None


def seeds() -> list[Candidate]:
    return [Candidate("course_seed", u, Fixed(a) if not a.startswith(("move", "turn", "go to")) else _seed_plan(a),
                      ["course_seed"], []) for u, a in COURSE_SEEDS]


def _seed_plan(answer: str) -> Plan:
    from .intents import GoTo, Move, Turn
    from .quantities import Qty
    if answer.startswith("move"):
        return Plan((Move("forward", Qty(2, "m")),))
    if answer.startswith("turn"):
        return Plan((Turn("clockwise", Qty(90, "deg")),))
    return Plan((GoTo("charging station"),))


def build_split(rng: random.Random, split: str, target: int, exclude: set[str], stats: dict,
                start: list[Candidate] = ()) -> list[Candidate]:
    """Generate and filter candidates until ``target`` are kept."""
    test = split == "test"
    kept: list[Candidate] = []
    kept_tokens: dict[str, list[list[str]]] = defaultdict(list)
    seen: set[str] = set()
    removed: Counter = Counter()
    candidates = 0
    pending = list(start)
    while len(kept) < target and candidates < target * 20:
        batch = pending or [generate(rng, test) for _ in range(min(500, (target - len(kept)) * 2 + 20))]
        fixed = bool(pending)
        pending = []
        records = [{"instruction": c.user, "input": "", "output": c.answer} for c in batch]
        flagged: dict[int, str] = {}
        for name, hits in run_detectors(records, QUALITY_DETECTORS).items():
            for i in hits:
                flagged.setdefault(i, f"quality:{name}")
        for i, c in enumerate(batch):
            if len(kept) >= target:
                break
            candidates += 1
            if i in flagged:
                removed[flagged[i]] += 1
                continue
            if not (2 <= len(c.user) <= 200) or len(c.answer) > 120:
                removed["length"] += 1
                continue
            why = check(c)
            if why:
                removed[why] += 1
                continue
            if test and not c.held:
                removed["no_held_out"] += 1
                continue
            k = key(c.user)
            if k in exclude:
                removed["in_other_split"] += 1
                continue
            toks = tokens(normalise(c.user))
            dup_key = c.answer + "|" + "|".join(u + "=" + i.answer() for u, i in c.history)
            near = any(rouge_l(toks, o) >= ROUGE_THRESHOLD for o in kept_tokens[dup_key])
            if not fixed and (k + dup_key in seen or near):
                removed["near_duplicate"] += 1
                continue
            seen.add(k + dup_key)
            kept_tokens[dup_key].append(toks)
            kept.append(c)
    if len(kept) < target:
        print(f"warning: {split}: only {len(kept)} of {target} examples after {candidates} candidates", file=sys.stderr)
    stats[split] = {"candidates": candidates, "kept": len(kept), "removed": dict(sorted(removed.items()))}
    return kept


def _held_flags(c: Candidate) -> dict:
    items = sorted(set(c.held))
    return {"template": any(not h.startswith(("values", "operator")) for h in items),
            "values": any(h.startswith("values") for h in items),
            "operators": any(h.startswith("operator") for h in items), "items": items}


def _kind(answer: str) -> str:
    head = answer.split(" ", 1)[0]
    return {"stop": "stop", "query": "query", "again": "memory", "undo": "memory", "continue": "memory",
            "reply": "reply"}.get(head, "plan")


def to_row(c: Candidate, idx: int, split: str) -> dict:
    history = [m for u, i in c.history for m in ({"role": "user", "content": u},
                                                  {"role": "assistant", "content": i.answer()})]
    messages = [{"role": "system", "content": DEFAULT_SYSTEM_PROMPT}, *history,
                {"role": "user", "content": c.user}, {"role": "assistant", "content": c.answer}]
    template = [t for t in c.trace if not t.startswith(("op=", "qty=", "values", "unit."))]
    return {"id": f"{split}-{idx:05d}", "messages": messages, "task": c.task, "kind": _kind(c.answer),
            "template": " ".join(template), "operators": sorted({t[3:] for t in c.trace if t.startswith("op=")}),
            "held_out": _held_flags(c), "normalised": normalise(c.user)}


def split_stats(rows: list[Candidate]) -> dict:
    return {"kept": len(rows), "tasks": dict(sorted(Counter(c.task for c in rows).items())),
            "kinds": dict(sorted(Counter(_kind(c.answer) for c in rows).items())),
            "multi_turn": sum(1 for c in rows if c.history),
            "plan_steps": dict(sorted(Counter(len(c.intent.steps) for c in rows
                                              if isinstance(c.intent, Plan)).items())),
            "operators": dict(sorted(Counter(t[3:] for c in rows for t in set(c.trace)
                                             if t.startswith("op=")).items())),
            "quantity_forms": dict(sorted(Counter(t[4:] for c in rows for t in c.trace
                                                  if t.startswith("qty=")).items())),
            "held_out": {"template": sum(_held_flags(c)["template"] for c in rows),
                         "values": sum(_held_flags(c)["values"] for c in rows),
                         "operators": sum(_held_flags(c)["operators"] for c in rows)}}


def build(out: Path, n_train: int, n_validation: int, n_test: int, seed: int) -> dict:
    rng = random.Random(seed)
    stats: dict = {"seed": seed, "rouge_l_threshold": ROUGE_THRESHOLD, "system_prompt": DEFAULT_SYSTEM_PROMPT,
                   "filters": {}}
    test = build_split(rng, "test", n_test, set(), stats["filters"])
    test_keys = {key(c.user) for c in test}
    pool = build_split(rng, "train", n_train + n_validation, test_keys, stats["filters"], start=seeds())
    seed_rows, rest = pool[:len(COURSE_SEEDS)], pool[len(COURSE_SEEDS):]
    rng.shuffle(rest)
    splits = {"train": seed_rows + rest[n_validation:], "validation": rest[:n_validation], "test": test}
    stats["filters"]["train_and_validation"] = stats["filters"].pop("train")
    stats["filters"]["note"] = "validation is drawn from the filtered train candidates (same generator, no held-out)"
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in splits.items():
        stats[name] = split_stats(rows)
        with open(out / f"{name}.jsonl", "w", encoding="utf-8") as f:
            for i, c in enumerate(rows):
                f.write(json.dumps(to_row(c, i, name), ensure_ascii=False) + "\n")
    (out / "stats.json").write_text(json.dumps(stats, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return stats


# ---------------------------------------------------------------- noise robustness

def perturb_text(rng: random.Random, text: str) -> str:
    """Casing, typos and fillers on a command (quantities, units and control words untouched)."""
    ctx = Ctx(rng)
    if rng.random() < 0.5:
        text = filler(ctx, text)
    for _ in range(rng.choice((1, 1, 2))):
        text = typo(ctx, text, protected(_place_words(text)))
    return case(ctx, text, rng.choice(("upper", "title", "random_case")))


def _place_words(text: str) -> tuple[str, ...]:
    from .surface import PLACES, START_WORDS, UNKNOWN_PLACES
    words = [n for n, a in PLACES] + [w for _, a in PLACES for w in a] + list(START_WORDS[0] + START_WORDS[1])
    words += list(UNKNOWN_PLACES[0] + UNKNOWN_PLACES[1])
    low = text.lower()
    return tuple(w for w in words if w in low)


def perturb_file(src: Path, dst: Path, seed: int = 0) -> dict:
    """The rows of ``src`` with their last command perturbed; rows whose answer the grammar no
    longer accepts for the perturbed command keep their original command (counted)."""
    rng = random.Random(seed)
    out, kept_original = [], 0
    for line in src.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        msgs = row["messages"]
        user, answer = msgs[-2]["content"], msgs[-1]["content"]
        new = perturb_text(rng, user)
        if check_answer(new, answer) is not None:
            new, kept_original = user, kept_original + 1
        row = {**row, "messages": msgs[:-2] + [{"role": "user", "content": new}, msgs[-1]],
               "perturbed": new != user, "original_command": user, "normalised": normalise(new)}
        out.append(row)
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in out), encoding="utf-8")
    return {"rows": len(out), "perturbed": len(out) - kept_original, "kept_original": kept_original}


__all__ = ["build", "build_split", "check", "key", "perturb_file", "perturb_text", "rouge_l", "tokens"]
