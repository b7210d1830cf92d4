"""Build the robot instruction -> action dataset (JSONL of ``messages``), Self-Instruct style.

    python -m training.make_dataset --out data/robot/

Seed tasks (``training/robot_tasks.py``: the course's five and more) are expanded with phrasings,
units, directions, speeds, durations, arcs, stops, queries, off-task requests, typos, casing and
multi-turn histories. Every answer is computed by code and checked by parsing it back with
``core.parser``. Candidates then go through the filters Self-Instruct uses, each counted:

* ``format``: the answer must parse, and parse to the action the generator meant;
* ``length``: command 2-200 characters, answer at most 100;
* ``quality``: the detectors of ``training/quality.py`` (the ones the Alpaca analysis counts);
* ``near_duplicate``: ROUGE-L >= 0.7 against an already kept command with the same answer
  (a near-copy with another answer still teaches something: the numbers differ).

Splits: ``test`` holds out whole phrasing templates and value pools (see robot_tasks), and no test
command appears in train; ``validation`` is drawn like train. Outputs ``train.jsonl``,
``validation.jsonl``, ``test.jsonl`` and ``stats.json`` (counts per filter, task and split).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

from ros2_llm_controller.core.config import DEFAULT_SYSTEM_PROMPT
from ros2_llm_controller.core.parser import parse_action

from .quality import run_detectors
from .robot_tasks import TASK_WEIGHTS, VALUED_TASKS, Sample, build_task, choose_template

# output_copies_instruction is left out: "Stop" -> "stop" is a right answer here.
QUALITY_DETECTORS = ("empty_output", "refusal", "unseen_media", "non_english", "merged_instructions")
ROUGE_THRESHOLD = 0.7
_WORD = re.compile(r"[a-z0-9.]+|[^\sa-z0-9]")
_PREFIXES = ("Please ", "Robot, ", "Hey robot, ", "Okay, ", "Now ", "Alright, ")
_SUFFIXES = (" please", " now", ", thanks", " right away")


# ---------------------------------------------------------------- ROUGE-L

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


# ---------------------------------------------------------------- surface noise

def typo(rng: random.Random, text: str) -> str:
    """One keyboard slip (swap, drop or double a letter) in a word of 4+ letters that holds no digit."""
    words = text.split(" ")
    idx = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    if not idx:
        return text
    i = rng.choice(idx)
    w = words[i]
    j = rng.randrange(1, len(w) - 1)
    kind = rng.randrange(3)
    if kind == 0:
        w = w[:j] + w[j + 1] + w[j] + w[j + 2:]
    elif kind == 1:
        w = w[:j] + w[j + 1:]
    else:
        w = w[:j] + w[j] + w[j:]
    words[i] = w
    return " ".join(words)


def augment(rng: random.Random, text: str) -> tuple[str, list[str]]:
    """Politeness, punctuation, casing and typos, as people type commands. Returns the text and what changed."""
    applied = []
    if rng.random() < 0.12:
        text = rng.choice(_PREFIXES) + text[0].lower() + text[1:]
        applied.append("prefix")
    elif rng.random() < 0.08 and not text.endswith(("?", "!")):
        text = text.rstrip(".") + rng.choice(_SUFFIXES)
        applied.append("suffix")
    r = rng.random()
    if r < 0.25:
        text = text.rstrip(".!")
        applied.append("no_punctuation")
    elif r < 0.35 and not text.endswith(("?", "!", ".")):
        text += "."
    if rng.random() < 0.12:
        text = typo(rng, text)
        applied.append("typo")
    r = rng.random()
    if r < 0.2:
        text = text.lower()
        applied.append("lowercase")
    elif r < 0.25:
        text = text.upper()
        applied.append("uppercase")
    return text, applied


# ---------------------------------------------------------------- generation

def _pick_task(rng: random.Random) -> str:
    names = list(TASK_WEIGHTS)
    return rng.choices(names, weights=[TASK_WEIGHTS[n] for n in names])[0]


def generate(rng: random.Random, split: str) -> Sample:
    """One candidate for ``split``: test samples use a held-out template, held-out values, or both."""
    task = _pick_task(rng)
    held_template = held_values = False
    if split == "test":
        if task in VALUED_TASKS:
            mode = rng.randrange(3)
            held_template, held_values = mode in (0, 2), mode in (1, 2)
        else:
            held_template = True
    sample = build_task(task, rng, held_template, held_values)
    sample.user, applied = augment(rng, sample.user)
    if rng.random() < 0.12:  # multi-turn: earlier commands and their answers come first
        history = []
        for _ in range(rng.randint(1, 2)):
            prev = build_task(_pick_task(rng), rng, False, False)
            history += [{"role": "user", "content": augment(rng, prev.user)[0]},
                        {"role": "assistant", "content": prev.answer}]
        last = history[-2:]
        if rng.random() < 0.35 and last[1]["content"].startswith(("move", "turn", "arc")):
            # "Do that again": the answer repeats the previous action.
            idx, user = choose_template(rng, "again", split == "test")
            sample = Sample("again", f"again/{idx}", split == "test", False, user, last[1]["content"])
        sample.history = history
    return sample


def expected_ok(sample: Sample) -> bool:
    """The format filter: the answer parses and restates the command faithfully."""
    try:
        action = parse_action(sample.answer)
    except ValueError:
        return False
    head = sample.answer.split()[0]
    return {"move": action.type == "move" and action.angular_z == 0 and action.linear_x != 0,
            "turn": action.type == "move" and action.linear_x == 0 and action.angular_z != 0,
            "arc": action.type == "move" and action.linear_x != 0 and action.angular_z != 0,
            "stop": action.type == "stop",
            "query": action.type == "reply" and action.query is not None,
            "reply": action.type == "reply" and action.query is None}.get(head, False)


def to_row(sample: Sample, idx: int, split: str) -> dict:
    messages = [{"role": "system", "content": DEFAULT_SYSTEM_PROMPT}, *sample.history,
                {"role": "user", "content": sample.user}, {"role": "assistant", "content": sample.answer}]
    return {"id": f"{split}-{idx:05d}", "messages": messages, "task": sample.task, "template": sample.template,
            "held_out": {"template": sample.held_template, "values": sample.held_values},
            "action": parse_action(sample.answer).to_dict()}


def build_split(rng: random.Random, split: str, target: int, exclude: set[str], stats: dict) -> list[Sample]:
    """Generate and filter candidates until ``target`` samples are kept."""
    kept: list[Sample] = []
    kept_tokens: dict[str, list[list[str]]] = defaultdict(list)
    removed = Counter()
    candidates = 0
    max_candidates = target * 20
    while len(kept) < target and candidates < max_candidates:
        batch = [generate(rng, split) for _ in range(min(500, (target - len(kept)) * 2 + 20))]
        candidates += len(batch)
        records = [{"instruction": s.user, "input": "", "output": s.answer} for s in batch]
        flagged = set()
        for name, hits in run_detectors(records, QUALITY_DETECTORS).items():
            for i in hits:
                if i not in flagged:
                    removed[f"quality:{name}"] += 1
                flagged.add(i)
        for i, s in enumerate(batch):
            if len(kept) >= target:
                break
            if i in flagged:
                continue
            if not expected_ok(s):
                removed["format"] += 1
                continue
            if not (2 <= len(s.user) <= 200) or len(s.answer) > 100:
                removed["length"] += 1
                continue
            norm = " ".join(tokens(s.user))
            if norm in exclude:
                removed["in_other_split"] += 1
                continue
            toks = tokens(s.user)
            key = s.answer + "|" + "|".join(m["content"] for m in s.history)
            if any(rouge_l(toks, other) >= ROUGE_THRESHOLD for other in kept_tokens[key]):
                removed["near_duplicate"] += 1
                continue
            kept_tokens[key].append(toks)
            kept.append(s)
    if len(kept) < target:
        print(f"warning: {split}: only {len(kept)} of {target} examples after {candidates} candidates",
              file=sys.stderr)
    stats[split] = {"candidates": candidates, "kept": len(kept), "removed": dict(sorted(removed.items())),
                    "tasks": dict(sorted(Counter(s.task for s in kept).items())),
                    "multi_turn": sum(1 for s in kept if s.history),
                    "held_out_template": sum(s.held_template for s in kept),
                    "held_out_values": sum(s.held_values for s in kept)}
    return kept


def build(out: Path, n_train: int, n_validation: int, n_test: int, seed: int) -> dict:
    rng = random.Random(seed)
    stats: dict = {"seed": seed, "rouge_l_threshold": ROUGE_THRESHOLD, "system_prompt": DEFAULT_SYSTEM_PROMPT}
    test = build_split(rng, "test", n_test, set(), stats)
    test_norm = {" ".join(tokens(s.user)) for s in test}
    train_all = build_split(rng, "train", n_train + n_validation, test_norm, stats)
    rng.shuffle(train_all)
    splits = {"train": train_all[n_validation:], "validation": train_all[:n_validation], "test": test}
    stats["validation"] = {"kept": n_validation, "note": "drawn from the train candidates after filtering"}
    stats["train"]["kept"] = len(splits["train"])
    out.mkdir(parents=True, exist_ok=True)
    for name, samples in splits.items():
        with open(out / f"{name}.jsonl", "w", encoding="utf-8") as f:
            for i, s in enumerate(samples):
                f.write(json.dumps(to_row(s, i, name), ensure_ascii=False) + "\n")
    (out / "stats.json").write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    return stats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.make_dataset", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("data/robot"), help="output folder (default data/robot)")
    ap.add_argument("--train", type=int, default=6000, help="training examples")
    ap.add_argument("--validation", type=int, default=300, help="validation examples")
    ap.add_argument("--test", type=int, default=600, help="test examples (held-out templates and values)")
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args(argv)
    if min(args.train, args.validation, args.test) < 1:
        ap.error("split sizes must be positive")
    stats = build(args.out, args.train, args.validation, args.test, args.seed)
    for split in ("train", "test"):
        s = stats[split]
        print(f"{split}: kept {s['kept']} of {s['candidates']} candidates; removed {s['removed']}")
    print(f"validation: {args.validation}; written to {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
