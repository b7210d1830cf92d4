"""Cost of grammar-constrained decoding on this CPU: grammar build per command and token mask per step.

    python -m bench.grammar [--commands 50]

For commands of the independent set: normalise + build the action grammar (``core.grammar``),
compile it with llguidance, then walk the reference-like answer token by token computing each
mask, as ``HFGenerator`` does. xgrammar is measured too when it is installed (it is not a
dependency: it pulls in triton). Prints per-command and per-token figures beside the model's own
per-token decode time, so the overhead reads as a ratio. Figures, not assertions.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from ros2_llm_controller.core.grammar import regex_for_command
from training.stats import percentile

ROOT = Path(__file__).resolve().parents[1]
ANSWERS = ("move forward 2 m", "turn clockwise 90 deg", "move forward 1 m; turn left 90 deg", "query battery",
           "reply negated", "go to kitchen")


def bench_llguidance(tokenizer, commands: list[str]) -> dict:
    import llguidance
    import llguidance.hf
    import llguidance.torch as llt

    t0 = time.perf_counter()
    lt = llguidance.hf.from_tokenizer(tokenizer)
    setup_s = time.perf_counter() - t0
    build, mask = [], []
    bm = llt.allocate_token_bitmask(1, lt.vocab_size)
    for command in commands:
        regex_for_command.cache_clear()
        t0 = time.perf_counter()
        m = llguidance.LLMatcher(lt, llguidance.LLMatcher.grammar_from_regex(regex_for_command(command)))
        build.append(time.perf_counter() - t0)
        for answer in ANSWERS:
            m.reset()
            for tok in tokenizer.encode(answer, add_special_tokens=False):
                t0 = time.perf_counter()
                llt.fill_next_token_bitmask(m, bm, 0)
                mask.append(time.perf_counter() - t0)
                if not m.consume_token(tok):
                    break
    return {"tokenizer_setup_s": setup_s, "build_ms": _ms(build), "mask_ms": _ms(mask)}


def bench_xgrammar(tokenizer, commands: list[str]) -> dict | None:
    try:
        import xgrammar as xgr
    except ImportError:
        return None
    info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=len(tokenizer))
    compiler = xgr.GrammarCompiler(info)
    build, mask = [], []
    bm = xgr.allocate_token_bitmask(1, info.vocab_size)
    for command in commands:
        t0 = time.perf_counter()
        matcher = xgr.GrammarMatcher(compiler.compile_grammar(xgr.Grammar.from_regex(regex_for_command(command))))
        build.append(time.perf_counter() - t0)
        for answer in ANSWERS:
            matcher.reset()
            for tok in tokenizer.encode(answer, add_special_tokens=False):
                t0 = time.perf_counter()
                matcher.fill_next_token_bitmask(bm)
                mask.append(time.perf_counter() - t0)
                if not matcher.accept_token(tok):
                    break
    return {"build_ms": _ms(build), "mask_ms": _ms(mask)}


def _ms(values: list[float]) -> dict:
    return {"p50": percentile(values, 0.5) * 1e3, "p99": percentile(values, 0.99) * 1e3, "n": len(values)}


def decode_step_ms(steps: int = 20) -> float:
    """The embedded model's own cost of one decoding step (KV cache, one token), for scale."""
    import torch

    from ros2_llm_controller.core.hf_generator import HFGenerator
    from ros2_llm_controller.core.model_store import resolve_model

    gen = HFGenerator(resolve_model("embedded"), device="cpu")
    with torch.inference_mode():
        out = gen.model(input_ids=torch.tensor([[1, 2, 3]]), use_cache=True)
        cache, times = out.past_key_values, []
        for _ in range(steps):
            t0 = time.perf_counter()
            cache = gen.model(input_ids=torch.tensor([[5]]), past_key_values=cache, use_cache=True).past_key_values
            times.append(time.perf_counter() - t0)
    return percentile(times, 0.5) * 1e3


def main(argv: list[str] | None = None) -> int:
    from transformers import AutoTokenizer

    from ros2_llm_controller.core.model_store import resolve_model

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--commands", type=int, default=50)
    ap.add_argument("--out", type=Path, default=ROOT / "reports/bench")
    args = ap.parse_args(argv)
    rows = [json.loads(line) for line in (ROOT / "eval/independent/commands.jsonl").read_text().splitlines()]
    commands = [r["command"] for r in rows[: args.commands]]
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("embedded"))
    report = {"machine": platform.processor() or platform.machine(), "commands": len(commands),
              "llguidance": bench_llguidance(tokenizer, commands), "xgrammar": bench_xgrammar(tokenizer, commands),
              "model_decode_step_ms_p50": decode_step_ms()}
    step = report["model_decode_step_ms_p50"]
    print(f"model decode step (p50): {step:.1f} ms")
    for name in ("llguidance", "xgrammar"):
        r = report[name]
        if r is None:
            print(f"{name:11}: not installed")
            continue
        print(f"{name:11}: grammar build p50 {r['build_ms']['p50']:.2f} ms (p99 {r['build_ms']['p99']:.2f}), "
              f"mask p50 {r['mask_ms']['p50']:.3f} ms (p99 {r['mask_ms']['p99']:.3f}) = "
              f"{r['mask_ms']['p50'] / step:.2%} of a decode step")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "grammar.json").write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
