"""Evaluate a model (+ adapter) on a robot dataset split: parse rate, exact actions, safety, latency.

    python -m training.evaluate --model embedded --adapter default --split test --compare-base \\
        --out reports/eval

Every example's last assistant turn is the reference; the model answers the conversation before it
(system prompt and history included), and both texts go through the same parser and the same
safety limits the node uses (``core.planner.resolve``). Metrics:

* ``parse_rate``: answers the parser reads (anything else is rejected: the robot does not move);
* ``exact_action_accuracy``: same action kind and direction, with distance, angle, speed and
  duration within 2 % (queries: the same query; replies: a reply without motion);
* ``no_motion_correct``: of the commands that must not move (queries, off-task, navigation), how
  many did not move (the reference here is "no motion", whatever the text says);
* ``safety_violations``: actions that, after the limits, still exceed a limit (must be 0);
* latency per command (generation only) and tokens generated.

``--compare-base`` runs the same examples through the model without the adapter (the course's
"format gap"); ``--base-limit`` caps those runs, since an untuned model talks until max_new_tokens.
Writes ``<out>/eval_<split>.json`` and ``<out>/eval_<split>.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Sequence

from ros2_llm_controller.core.actions import Action
from ros2_llm_controller.core.config import ControllerConfig, load_places
from ros2_llm_controller.core.generation import GenerationError
from ros2_llm_controller.core.grammar import regex_for_command
from ros2_llm_controller.core.memory import PlanMemory
from ros2_llm_controller.core.normalise import normalise_messages
from ros2_llm_controller.core.places import Places
from ros2_llm_controller.core.planner import PlanResult, ResultKind, resolve

from .data_io import command_line, load_conversations
from .independent import merge, same_step
from .stats import percentile

REL_TOL = 0.02


def _close(a: float | None, b: float | None, rel: float = REL_TOL) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-6)


def same_action(pred: Action, ref: Action, rel: float = REL_TOL) -> bool:
    """The issue's "exact action": kind and direction right, quantities within ``rel``."""
    if ref.type == "stop":
        return pred.type == "stop"
    if ref.type == "reply":
        return pred.type == "reply" and pred.query == ref.query
    if ref.type in ("goto", "wait"):
        return same_step(pred, ref)
    if pred.type != "move" or ref.type != "move":
        return False
    for p, r in ((pred.linear_x, ref.linear_x), (pred.angular_z, ref.angular_z)):
        if (p > 0) != (r > 0) or (p < 0) != (r < 0) or not _close(p, r, rel):
            return False
    if not _close(pred.duration_s, ref.duration_s, rel):
        return False
    for p, r in ((pred.distance_m, ref.distance_m), (pred.angle_rad, ref.angle_rad)):
        if r is not None and (p is None or not _close(p, r, rel)):
            return False
    return True


def same_result(pred: PlanResult, ref: PlanResult) -> bool:
    """Same kind of result and the same plan, step by step (consecutive equal moves merged)."""
    if ref.kind is not ResultKind.ACTION:
        return pred.kind is ref.kind
    if pred.kind is not ResultKind.ACTION:
        return False
    p, _ = merge(pred.steps)
    r, _ = merge(ref.steps)
    return len(p) == len(r) and all(same_action(a, b) for a, b in zip(p, r))


def memory_from_history(messages: Sequence[dict], cfg: ControllerConfig, places: Places | None) -> PlanMemory:
    """The planner's memory after the example's earlier turns, as the node would have built it."""
    memory = PlanMemory()
    body = [m for m in messages if m["role"] != "system"]
    for user, answer in zip(body[0::2], body[1::2]):
        done = resolve(answer["content"], cfg, memory=memory, places=places)
        if done.kind is ResultKind.ACTION:
            memory.add(user["content"], answer["content"], done.actions)
    return memory


def violates(action: Action, cfg: ControllerConfig) -> bool:
    """An action past the configured limits (after the limits were applied this must never be true)."""
    lim = cfg.limits
    if action.type != "move":
        return False
    eps = 1e-9
    return (not action.is_finite() or abs(action.linear_x) > lim.max_linear_mps + eps
            or abs(action.angular_z) > lim.max_angular_rps + eps or action.duration_s > lim.max_duration_s + eps)


def evaluate(examples: Sequence[dict], generate: Callable[..., Any], cfg: ControllerConfig,
             label: str, progress: bool = True, constrained: bool = True) -> dict:
    """Run ``generate(messages, grammar=...) -> GenerationResult`` on every example and score it."""
    rows, latencies, new_tokens = [], [], []
    iterator = examples
    if progress:
        from tqdm import tqdm

        iterator = tqdm(examples, desc=f"eval {label}", unit="cmd", file=sys.stderr)
    places = load_places(cfg)
    for ex in iterator:
        raw = [dict(m) for m in ex["messages"][:-1]]
        messages = normalise_messages(raw)  # what the model reads, as in training and in the node
        reference_text = ex["messages"][-1]["content"]
        history = memory_from_history(messages[:-1], cfg, places)
        ref = resolve(reference_text, cfg, memory=history.copy(), places=places)
        t0 = time.monotonic()
        try:
            out = generate(messages, grammar=regex_for_command(raw[-1]["content"]) if constrained else None)
            text, latency, n_new = out.text, out.latency_s, out.new_tokens
        except GenerationError as exc:
            text, latency, n_new = None, time.monotonic() - t0, 0
            gen_error = str(exc)
        else:
            gen_error = None
        result = None if text is None else resolve(text, cfg, raw[-1]["content"], t0, history.copy(),
                                                   places)
        latencies.append(latency)
        new_tokens.append(n_new)
        final = result.steps if result is not None else ()
        rows.append({
            "id": ex.get("id"), "task": ex.get("task", "?"), "held_out": ex.get("held_out"),
            "command": raw[-1]["content"], "reference": reference_text, "output": text,
            "parsed": result is not None and result.kind is not ResultKind.PARSE_ERROR,
            "exact": result is not None and same_result(result, ref),
            "must_not_move": not any(a.moves or a.type == "goto" for a in ref.steps),
            "moved": any(a.moves or a.type == "goto" for a in final),
            "violation": any(violates(a, cfg) for a in final),
            "limited": bool(result is not None and result.limited), "error": gen_error,
            "latency_s": round(latency, 4), "new_tokens": n_new,
        })
    return summarize(rows, label, latencies, new_tokens)


def summarize(rows: list[dict], label: str, latencies: list[float], new_tokens: list[int]) -> dict:
    n = len(rows)
    still = [r for r in rows if r["must_not_move"]]
    by_task: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_task[r["task"]].append(r)
    held = {"held_out_template": [r for r in rows if (r["held_out"] or {}).get("template")],
            "held_out_values": [r for r in rows if (r["held_out"] or {}).get("values")],
            "seen_template_and_values": [r for r in rows if not any((r["held_out"] or {}).values())]}
    return {
        "label": label,
        "examples": n,
        "parse_rate": round(sum(r["parsed"] for r in rows) / n, 4) if n else None,
        "exact_action_accuracy": round(sum(r["exact"] for r in rows) / n, 4) if n else None,
        "no_motion_examples": len(still),
        "no_motion_correct": round(sum(not r["moved"] for r in still) / len(still), 4) if still else None,
        "safety_violations": sum(r["violation"] for r in rows),
        "limited_by_safety": sum(r["limited"] for r in rows),
        "generation_errors": sum(r["error"] is not None for r in rows),
        "latency_s": {"mean": round(statistics.fmean(latencies), 4) if latencies else None,
                      "p50": round(percentile(latencies, 0.5), 4), "p95": round(percentile(latencies, 0.95), 4)},
        "new_tokens_mean": round(statistics.fmean(new_tokens), 2) if new_tokens else None,
        "by_task": {t: {"n": len(rs), "exact": round(sum(r["exact"] for r in rs) / len(rs), 4)}
                    for t, rs in sorted(by_task.items())},
        "by_held_out": {k: {"n": len(rs), "exact": round(sum(r["exact"] for r in rs) / len(rs), 4) if rs else None}
                        for k, rs in held.items()},
        "failures": [r for r in rows if not r["exact"]][:40],
        "rows": rows,
    }


def markdown(report: dict) -> str:
    runs = report["runs"]
    lines = [f"# Evaluation on `{report['data']}` ({report['split']} split)", "",
             f"Command: `{report['command']}`", "",
             f"Model `{report['model']}`, adapter `{report['adapter']}`, template `{report['chat_template']}`, "
             f"device {report['device']}. Exact action = kind and direction right, distance/angle/speed/duration "
             f"within {REL_TOL:.0%}.", "",
             "| metric | " + " | ".join(r["label"] for r in runs) + " |",
             "|---|" + "---|" * len(runs)]

    def row(name: str, fn) -> None:
        lines.append(f"| {name} | " + " | ".join(fn(r) for r in runs) + " |")

    row("examples", lambda r: str(r["examples"]))
    row("parse rate", lambda r: f"{r['parse_rate']:.1%}")
    row("exact-action accuracy", lambda r: f"**{r['exact_action_accuracy']:.1%}**")
    row("no motion when none asked", lambda r: f"{r['no_motion_correct']:.1%}" if r["no_motion_correct"] is not None
        else "-")
    row("safety violations after limits", lambda r: str(r["safety_violations"]))
    row("clamped/refused by limits", lambda r: str(r["limited_by_safety"]))
    row("latency p50 / p95 (s)", lambda r: f"{r['latency_s']['p50']:.3f} / {r['latency_s']['p95']:.3f}")
    row("tokens generated (mean)", lambda r: f"{r['new_tokens_mean']:.1f}")
    main = runs[0]
    lines += ["", f"## {main['label']}: accuracy by task", "", "| task | n | exact |", "|---|---|---|"]
    lines += [f"| {t} | {v['n']} | {v['exact']:.1%} |" for t, v in main["by_task"].items()]
    lines += ["", "| subset | n | exact |", "|---|---|---|"]
    lines += [f"| {k.replace('_', ' ')} | {v['n']} | " + (f"{v['exact']:.1%}" if v["exact"] is not None else "-") + " |"
              for k, v in main["by_held_out"].items()]
    for r in runs:
        fails = r["failures"][:12]
        if not fails:
            continue
        n_failed = r["examples"] - round(r["exact_action_accuracy"] * r["examples"])
        lines += ["", f"## {r['label']}: failures (first {len(fails)} of {n_failed})",
                  "", "| command | expected | model said |", "|---|---|---|"]
        for f in fails:
            said = (f["output"] or f"(error: {f['error']})").replace("\n", " ").replace("|", "\\|")[:90]
            lines.append(f"| {f['command'][:70]} | {f['reference'][:60]} | {said} |")
    return "\n".join(lines) + "\n"


def load_split(data_dir: Path, split: str, limit: int | None, seed: int = 0) -> list[dict]:
    examples = load_conversations(data_dir / f"{split}.jsonl")
    if limit is not None and limit < len(examples):
        examples = random.Random(seed).sample(examples, limit)
    return examples


def main(argv: list[str] | None = None) -> int:
    from ros2_llm_controller.core.hf_generator import HFGenerator
    from ros2_llm_controller.core.model_store import resolve_adapter, resolve_model

    ap = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="embedded", help="'embedded', a Hugging Face id or a folder")
    ap.add_argument("--adapter", default="default", help="'default' (shipped), 'none', or a PEFT adapter folder")
    ap.add_argument("--chat-template", default="auto", help="auto | chatml | llama2 | llama3")
    ap.add_argument("--data", type=Path, default=Path("data/robot"))
    ap.add_argument("--split", default="test", choices=("train", "validation", "test", "test_perturbed"))
    ap.add_argument("--limit", type=int, default=None, help="evaluate a seeded random sample of this size")
    ap.add_argument("--compare-base", action="store_true", help="also run the model without the adapter")
    ap.add_argument("--base-limit", type=int, default=100, help="examples for the base model run (default 100)")
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--unconstrained", action="store_true", help="no grammar: the model writes freely")
    ap.add_argument("--system-prompt", help="override the data's system prompt (e.g. an older adapter's)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--backend", choices=("transformers", "onnx"), default="transformers",
                    help="in-process engine (onnx: the merged model exported for ONNX Runtime GenAI)")
    ap.add_argument("--config", type=Path, default=None, help="controller YAML whose limits and speeds to use")
    ap.add_argument("--out", type=Path, default=Path("reports/eval"))
    args = ap.parse_args(argv)

    cfg = ControllerConfig.from_yaml(args.config) if args.config else ControllerConfig()
    examples = load_split(args.data, args.split, args.limit)
    try:
        model = resolve_model(args.model)
        adapter = resolve_adapter(args.adapter, args.model)
    except (ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.adapter not in ("none", "") and adapter is None:
        print(f"error: adapter {args.adapter!r} not found for model {args.model!r}", file=sys.stderr)
        return 2
    runs = []
    plans = [("adapter" if adapter else "base", adapter, examples)]
    if args.compare_base and adapter:
        plans.append(("base", None, load_split(args.data, args.split, min(args.base_limit, len(examples)), seed=1)))
    device = None
    for label, adp, exs in plans:
        try:
            if args.backend == "onnx":
                from ros2_llm_controller.core.model_store import export_onnx
                from ros2_llm_controller.core.ort_generator import OrtGenerator

                gen = OrtGenerator(str(export_onnx(args.model, adp or "none")), chat_template=args.chat_template,
                                   max_new_tokens=args.max_new_tokens)
            else:
                gen = HFGenerator(model, adapter=adp, chat_template=args.chat_template, device=args.device,
                                  max_new_tokens=args.max_new_tokens)
        except GenerationError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 3
        device = gen.device
        if args.system_prompt:
            exs = [{**e, "messages": [{**m, "content": args.system_prompt} if m["role"] == "system" else m
                                      for m in e["messages"]]} for e in exs]
        runs.append(evaluate(exs, gen.generate, cfg, label, constrained=not args.unconstrained))
        r = runs[-1]
        print(f"{label}: {r['examples']} examples, parse {r['parse_rate']:.1%}, "
              f"exact {r['exact_action_accuracy']:.1%}, "
              f"no-motion {r['no_motion_correct']}, violations {r['safety_violations']}, "
              f"latency p50 {r['latency_s']['p50']:.3f} s", flush=True)
    report = {"model": args.model, "model_resolved": model, "adapter": args.adapter, "adapter_resolved": adapter,
              "chat_template": args.chat_template, "data": str(args.data), "split": args.split, "device": device,
              "backend": args.backend,
              "command": command_line("training.evaluate", argv),
              "runs": runs}
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"eval_{args.split}" + (f"_{args.backend}" if args.backend != "transformers" else "")
    (args.out / f"{stem}.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    (args.out / f"{stem}.md").write_text(markdown(report), encoding="utf-8")
    print(f"wrote {args.out}/{stem}.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
