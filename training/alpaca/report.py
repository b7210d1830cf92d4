"""Render the analysis summary as report.md (for people) and summary.json (for tools)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from training.alpaca.stats import STAT_KEYS
from training.quality import DETECTORS, evidence

EXAMPLES_PER_DETECTOR = 2
INDEX_CAP = 50  # indices listed per detector in summary.json; counts stay exact

# What each detector's hit means for fine-tuning, used as the "why" of an example.
WHY = {
    "empty_output": "the target is empty, so the model learns to answer with nothing",
    "placeholder_output": "the target is a generator placeholder instead of an answer",
    "placeholder_input": "the input is a placeholder for 'no input' that the model would learn to expect",
    "output_copies_instruction": "the target repeats the instruction instead of answering it",
    "output_copies_input": "the target is the input unchanged: a no-op unless the input already satisfied the task",
    "unseen_media": "the task refers to media or a web page the text-only model never sees, so the answer is invented",
    "merged_instructions": "a second generated task (numbered Instruction/Input/Output) leaked into this record",
    "refusal": "the target refuses or disclaims instead of doing the task",
    "truncated_output": "the target stops mid-sentence",
    "non_english": "non-English text where English is expected",
    "duplicate": "repeats an earlier instruction and input",
}


def _excerpt(text: str, n: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= n else flat[: n - 1] + "…"


def low_quality_section(records: Sequence[Mapping], flagged: Mapping[str, list[int]]) -> tuple[dict, list[dict]]:
    """({detector: {count, share, indices[:50], description}}, examples)."""
    n = max(1, len(records))
    low = {name: {"count": len(idx), "share": round(len(idx) / n, 5), "indices": idx[:INDEX_CAP],
                  "description": DETECTORS[name].description} for name, idx in flagged.items()}
    examples, used = [], set()
    for name, idx in flagged.items():
        # The first hit and one from the middle: deterministic, and not all from the file's head;
        # a record already shown for another detector is skipped so each example shows one pattern.
        fresh = [i for i in idx if i not in used]
        for i in sorted({fresh[0], fresh[len(fresh) // 2]} if fresh else set())[:EXAMPLES_PER_DETECTOR]:
            used.add(i)
            r = records[i]
            examples.append({"index": i, "detector": name, "instruction": _excerpt(r["instruction"], 200),
                             "input": _excerpt(r["input"], 120), "output_excerpt": _excerpt(r["output"]),
                             "evidence": evidence(name, r), "why": WHY.get(name, DETECTORS[name].description)})
    return low, examples


def write_summary(summary: Mapping, out_dir: Path) -> Path:
    path = out_dir / "summary.json"
    path.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def _stats_row(label: str, s: Mapping | None) -> str:
    if not s:
        return f"| {label} | " + " | ".join(["n/a"] * 7) + " |"
    return f"| {label} | " + " | ".join(f"{s[k]:g}" for k in STAT_KEYS) + " |"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def write_report(summary: Mapping, images: Mapping[str, str], out_dir: Path, command: str) -> Path:
    """report.md with relative image links, tables, examples, method and timings."""
    s, n = summary, summary["n_records"]
    parser, tok = s["parser"], s["tokenizer"]
    verbs, pairs = s["top_root_verbs"], s["top_verb_objects"]
    lines = [
        f"# Instruction dataset analysis: {s['source_name']}", "",
        f"{n:,} records from `{s['source']}`. Parser: **{parser['label']}**. "
        f"Tokenizer: {tok['description']}.", "",
        "## Key findings", "",
        *[f"- {f}" for f in s["findings"]], "",
        "## 1. How long are the instructions?", "",
        "| field | min | p25 | median | mean | p75 | p95 | max |", "|---|---|---|---|---|---|---|---|",
        _stats_row("instruction (words)", s["instruction_words"]),
        _stats_row("instruction (tokens)", s["instruction_tokens"]),
        _stats_row("input (words, non-empty inputs only)", s["input_words_nonempty"]),
        _stats_row("output (words)", s["output_words"]),
        _stats_row("output (tokens)", s["output_tokens"]), "",
        f"![instruction lengths]({images['instruction_lengths']})", "",
        f"![output lengths]({images['output_lengths']})", "",
        "## 2. Which verbs start the tasks?", "",
        f"Root verb of the first sentence of each instruction and its first direct-object noun "
        f"({parser['label']}). {s['no_verb_count']:,} instructions ({100 * s['no_verb_count'] / max(n, 1):.1f}%) "
        "have no root verb under this rule, mostly questions (\"What is ...?\").", "",
        "| # | verb | count | share |", "|---|---|---|---|",
        *[f"| {i + 1} | {v} | {c:,} | {100 * c / max(n, 1):.1f}% |" for i, (v, c) in enumerate(verbs)], "",
        f"![top verbs]({images['top_verbs']})", "",
    ]
    if pairs:
        lines += ["| # | verb | object | count |", "|---|---|---|---|",
                  *[f"| {i + 1} | {v} | {o} | {c:,} |" for i, (v, o, c) in enumerate(pairs)], "",
                  f"![top verb-object pairs]({images['top_verb_objects']})", ""]
        if "verb_object_rings" in images:
            lines += [f"![verb-object rings]({images['verb_object_rings']})", ""]
    else:
        lines += ["No verb–object pairs: the first-word fallback does not find objects.", ""]
    by_w, by_t = s["output_words_by_task"], s["output_tokens_by_task"] or {}
    lines += [
        "## 3. How long are the responses per task type?", "",
        "Task type = root verb. Sorted by mean output words.", "",
        "| task | n | mean words | median words | mean tokens | median tokens |", "|---|---|---|---|---|---|",
        *[f"| {t} | {by_w[t]['n']:,} | {by_w[t]['mean']:g} | {by_w[t]['median']:g} | "
          f"{by_t.get(t, {}).get('mean', 'n/a')} | {by_t.get(t, {}).get('median', 'n/a')} |"
          for t in sorted(by_w, key=lambda t: -by_w[t]["mean"])], "",
        f"![output length by task]({images['output_by_task']})", "",
        "## 4. Low-quality records", "",
        f"{s['low_quality_any']:,} records ({100 * s['low_quality_any'] / max(n, 1):.2f}%) are flagged by at least "
        "one detector. Detectors are regular expressions in `training/quality.py`, tuned by reading what they "
        "flag; counts are exact, `summary.json` lists the first indices of each.", "",
        "| detector | count | share | what it flags |", "|---|---|---|---|",
        *[f"| `{k}` | {v['count']:,} | {100 * v['share']:.2f}% | {_md(v['description'])} |"
          for k, v in sorted(s["low_quality"].items(), key=lambda kv: -kv[1]["count"])], "",
        f"![low-quality detectors]({images['low_quality']})", "",
        "### Examples", "",
    ]
    for ex in s["examples"]:
        lines += [f"- **#{ex['index']}** `{ex['detector']}`: {ex['why']}.  ",
                  f"  instruction: “{_md(ex['instruction'])}”  ",
                  *([f"  input: “{_md(ex['input'])}”  "] if ex["input"] else []),
                  f"  output: “{_md(ex['output_excerpt']) or '(empty)'}”  ",
                  f"  evidence: `{_md(ex['evidence']).replace('`', chr(39))}`"]
    lines += ["", "## Method", "", *s["method"], "", "## Timings", "", "| step | seconds |", "|---|---|",
              *[f"| {k} | {v:.2f} |" for k, v in s["timings"].items()],
              f"| **total (this run)** | {sum(v for k, v in s['timings'].items() if 'when cached' not in k):.2f} |",
              f"| total without the dependency parse | "
              f"{sum(v for k, v in s['timings'].items() if not k.startswith('dependency parse')):.2f} |", "",
              "## Reproduce", "", f"```\n{command}\n```", ""]
    path = out_dir / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
