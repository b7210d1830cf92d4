"""Build the robot instruction -> action dataset (JSONL of ``messages``) from the compositional
generator in ``training/compose/`` (intent x slots x surface operators, answers in language v2).

    python -m training.make_dataset --out data/robot/
    python -m training.make_dataset --perturb data/robot/test.jsonl --out data/robot/test_perturbed.jsonl

The first writes ``train.jsonl``, ``validation.jsonl``, ``test.jsonl`` and ``stats.json`` (filter
counts, tasks, operators, held-out use); the second writes a noise-robustness copy of a split
(casing, typos, fillers on each last command; quantities untouched). See ``compose/builder.py``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .compose.builder import ROUGE_THRESHOLD, build, perturb_file, rouge_l, tokens

__all__ = ["ROUGE_THRESHOLD", "build", "main", "perturb_file", "rouge_l", "tokens"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.make_dataset", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("data/robot"),
                    help="output folder (default data/robot); with --perturb, the output file")
    ap.add_argument("--train", type=int, default=9600, help="training examples")
    ap.add_argument("--validation", type=int, default=400, help="validation examples")
    ap.add_argument("--test", type=int, default=800, help="test examples (held-out phrasings, operators, values)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--perturb", type=Path, metavar="SPLIT.jsonl",
                    help="write a perturbed copy of this split to --out instead of building the dataset")
    args = ap.parse_args(argv)
    if args.perturb:
        out = args.out if args.out.suffix == ".jsonl" else args.out / f"{args.perturb.stem}_perturbed.jsonl"
        res = perturb_file(args.perturb, out, args.seed)
        print(f"{res['perturbed']} of {res['rows']} commands perturbed "
              f"({res['kept_original']} kept as written: the grammar no longer accepted their answer); {out}")
        return 0
    if min(args.train, args.validation, args.test) < 1:
        ap.error("split sizes must be positive")
    stats = build(args.out, args.train, args.validation, args.test, args.seed)
    for name in ("test", "train_and_validation"):
        s = stats["filters"][name]
        print(f"{name}: kept {s['kept']} of {s['candidates']} candidates; removed {s['removed']}")
    print(f"train {stats['train']['kept']}, validation {stats['validation']['kept']}, test {stats['test']['kept']}; "
          f"written to {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
