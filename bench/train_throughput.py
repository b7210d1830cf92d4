"""Training throughput on this machine: our recipe vs the course script's padding, same data, same run.

    .venv/bin/python -m bench.train_throughput [--steps 6] [--recipe config/sft_smollm2_cpu.yaml]

Both runs train the embedded model with the same recipe, LoRA and batch size for ``--steps``
optimizer steps; they differ only in padding:
  ours   : dynamic padding to the longest row of a batch, batches grouped by length;
  course : every example padded to max_length (512), as the course's script tokenises.
Throughput counts real (non-padding) tokens per second; the first step (warm-up) is excluded.
Prints a table with the ratio and writes reports/bench/train_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from transformers import TrainerCallback

from training.sft_recipe import load_recipe
from training.train_sft import train

ROOT = Path(__file__).resolve().parents[1]  # the checkout: data/, config/, reports/


class StepTimer(TrainerCallback):
    """Wall time and tokens of each optimizer step after the first."""

    def __init__(self):
        self.marks: list[tuple[float, int]] = []

    def on_step_end(self, args, state, control, **kwargs):
        self.marks.append((time.monotonic(), state.num_input_tokens_seen))


def run(recipe_path: str, steps: int, padding: str, sampling: str, out_dir: str) -> dict:
    overrides = {"sft.max_steps": steps, "sft.output_dir": out_dir, "export_dir": None, "padding": padding,
                 "sft.eval_strategy": "no", "sft.save_strategy": "no", "sft.logging_steps": 1,
                 "sft.train_sampling_strategy": sampling, "data.eval": None}
    if padding == "max_length":
        overrides["sft.max_length"] = 512
    recipe = load_recipe(recipe_path, overrides)
    timer = StepTimer()
    train(recipe, resume="never", callbacks=[timer])
    (t0, n0), (t1, n1) = timer.marks[0], timer.marks[-1]
    steps_timed = len(timer.marks) - 1
    batch = recipe["sft"]["per_device_train_batch_size"] * recipe["sft"].get("gradient_accumulation_steps", 1)
    return {"padding": padding, "steps_timed": steps_timed, "seconds_per_step": (t1 - t0) / steps_timed,
            "tokens_per_second": (n1 - n0) / (t1 - t0), "batch": batch,
            "max_length": recipe["sft"]["max_length"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--recipe", default=str(ROOT / "config/sft_smollm2_cpu.yaml"))
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--out", type=Path, default=ROOT / "reports/bench")
    args = ap.parse_args(argv)
    if args.steps < 2:
        ap.error("--steps must be at least 2 (the first step is warm-up)")
    with tempfile.TemporaryDirectory() as tmp:
        ours = run(args.recipe, args.steps, "longest", "group_by_length", f"{tmp}/ours")
        course = run(args.recipe, args.steps, "max_length", "random", f"{tmp}/course")
    ratio = ours["tokens_per_second"] / course["tokens_per_second"]
    print(f"\n{'run':8} {'padding':12} {'batch':>5} {'s/step':>8} {'real tokens/s':>14}")
    for name, r in (("ours", ours), ("course", course)):
        print(f"{name:8} {r['padding']:12} {r['batch']:>5} {r['seconds_per_step']:>8.2f} "
              f"{r['tokens_per_second']:>14.1f}")
    print(f"\nours / course = {ratio:.1f}x real tokens per second")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "train_throughput.json").write_text(json.dumps({"ours": ours, "course": course,
                                                                "ratio": ratio}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
