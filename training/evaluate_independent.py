"""Accuracy on an independent set (commands written blind to the generator), per category.

    python -m training.evaluate_independent --set eval/independent/commands.jsonl \\
        --model embedded --adapter default --out reports/independent

Each row runs through the node's own planner (normaliser, grammar-constrained model, parser,
places, memory, limits): rows with a ``context`` first send those commands, as a user would have.
Scoring is ``training.independent.score``. Writes ``<out>/<set name>.json`` (every row, with the
model's answer) and ``<out>/<set name>.md`` (per-category table). ``--unconstrained`` turns the
grammar off for comparison.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections import defaultdict
from pathlib import Path

from ros2_llm_controller.core.config import ControllerConfig, default_config_path
from ros2_llm_controller.core.memory import PlanMemory
from ros2_llm_controller.core.places import Places

from .independent import load_rows, score


def default_places() -> Places:
    path = Path(__file__).resolve().parents[1] / "config" / "places.yaml"
    return Places.from_yaml(path).with_start(0.0, 0.0, 0.0)


def training_commands(path: Path = Path("data/robot/train.jsonl")) -> set[str]:
    """The training split's last commands, as the dataset builder compares commands (normalised, no punctuation)."""
    from .compose.builder import key

    if not path.is_file():
        return set()
    return {key(json.loads(line)["messages"][-2]["content"]) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()}


def run(rows: list[dict], planner_factory, cfg: ControllerConfig, label: str, progress: bool = True,
        seen: set[str] = frozenset()) -> dict:
    """Score ``rows``; ``planner_factory(memory)`` gives a Planner sharing the one generator. ``seen``: training
    commands; a row whose command is one of them is marked, and the accuracy without those rows is reported."""
    from tqdm import tqdm

    from .compose.builder import key

    out = []
    for row in tqdm(rows, desc=label, unit="cmd", file=sys.stderr, disable=not progress):
        planner = planner_factory(PlanMemory())
        for earlier in row.get("context") or []:
            planner.plan(earlier)
        t0 = time.monotonic()
        result = planner.plan(row["command"])
        ok, why = score(row, result, cfg)
        actions = getattr(result, "actions", ()) or (result.action,)
        out.append({"id": row["id"], "category": row["category"], "command": row["command"], "ok": ok, "why": why,
                    "model_output": result.model_output, "kind": getattr(result.kind, "value", None),
                    "error": result.error, "moved": any(a.moves or a.type == "goto" for a in actions),
                    "must_not_move": row["expect"] == "none", "latency_s": round(time.monotonic() - t0, 4),
                    "in_training": key(row["command"]) in seen})
    return summarize(out, label)


def summarize(rows: list[dict], label: str) -> dict:
    by_cat: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_cat[r["category"]].append(r)
    still = [r for r in rows if r["must_not_move"]]
    unseen = [r for r in rows if not r.get("in_training")]
    return {
        "label": label, "n": len(rows), "accuracy": sum(r["ok"] for r in rows) / max(len(rows), 1),
        "in_training_rows": len(rows) - len(unseen),
        "accuracy_not_in_training": sum(r["ok"] for r in unseen) / max(len(unseen), 1),
        "no_motion_rows": len(still), "moved_on_no_motion_rows": sum(r["moved"] for r in still),
        "parse_errors": sum(r["kind"] == "parse_error" for r in rows),
        "per_category": {c: {"n": len(v), "accuracy": sum(r["ok"] for r in v) / len(v)}
                         for c, v in sorted(by_cat.items())},
        "rows": rows,
    }


def to_markdown(report: dict, command_line: str) -> str:
    lines = [f"# {report['label']}", "", f"`{command_line}`", "",
             f"**{report['accuracy']:.1%}** right of {report['n']} commands; "
             f"{report['moved_on_no_motion_rows']} motions on {report['no_motion_rows']} no-motion rows; "
             f"{report['parse_errors']} parse errors.", "",
             f"{report.get('in_training_rows', 0)} rows are, normalised, a command of data/robot/train.jsonl; on the "
             f"other rows: {report.get('accuracy_not_in_training', report['accuracy']):.1%}.", "",
             "| category | n | right |", "|---|---|---|"]
    for cat, v in report["per_category"].items():
        lines.append(f"| {cat} | {v['n']} | {v['accuracy']:.1%} |")
    wrong = [r for r in report["rows"] if not r["ok"]]
    if wrong:
        lines += ["", "## Wrong", "", "| id | category | command | model | why |", "|---|---|---|---|---|"]
        for r in wrong:
            cmd = r["command"].replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {r['id']} | {r['category']} | {cmd} | `{r['model_output']}` | {r['why']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--set", dest="set_path", type=Path, default=Path("eval/independent/commands.jsonl"))
    p.add_argument("--model", default="embedded")
    p.add_argument("--adapter", default="default")
    p.add_argument("--system-prompt", dest="system_prompt", help="override (e.g. an older adapter's prompt)")
    p.add_argument("--unconstrained", action="store_true", help="no grammar: the model writes freely")
    p.add_argument("--backend", choices=("transformers", "onnx"), default="transformers",
                   help="in-process engine (onnx: the merged model exported for ONNX Runtime GenAI)")
    p.add_argument("--limit", type=int, help="first N rows only")
    p.add_argument("--out", type=Path, default=Path("reports/independent"))
    p.add_argument("--label", help="report title (default: the set's folder name)")
    args = p.parse_args(argv)

    from ros2_llm_controller.core.generation import generator_from_config
    from ros2_llm_controller.core.planner import Planner

    path = default_config_path()
    cfg = (ControllerConfig.from_yaml(path) if path else ControllerConfig()).with_(
        model=args.model, adapter=args.adapter, system_prompt=args.system_prompt,
        constrained_decoding=not args.unconstrained, backend=args.backend)
    rows = load_rows(args.set_path)[: args.limit]
    generator = generator_from_config(cfg)
    generator.warmup()
    places = default_places()
    label = args.label or f"{args.set_path.parent.name} ({'unconstrained' if args.unconstrained else 'grammar'})"
    report = run(rows, lambda memory: Planner(generator, cfg, places=places, memory=memory), cfg, label,
                 seen=training_commands())
    report["model"] = generator.describe()
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.set_path.parent.name + ("_unconstrained" if args.unconstrained else "") + (
        f"_{args.backend}" if args.backend != "transformers" else "")
    command_line = shlex.join(["python", "-m", "training.evaluate_independent", *(argv or sys.argv[1:])])
    (args.out / f"{stem}.json").write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    (args.out / f"{stem}.md").write_text(to_markdown(report, command_line))
    print(f"{label}: {report['accuracy']:.1%} of {report['n']}; moved on {report['moved_on_no_motion_rows']} of "
          f"{report['no_motion_rows']} no-motion rows; {report['in_training_rows']} rows in the training data, "
          f"{report['accuracy_not_in_training']:.1%} on the others")
    for cat, v in report["per_category"].items():
        print(f"  {cat:15} {v['accuracy']:6.1%}  (n={v['n']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
