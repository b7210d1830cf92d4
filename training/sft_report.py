"""What a training run leaves behind besides checkpoints: loss curve, metrics, provenance, export.

Everything here works on plain data (the Trainer's ``log_history``, dicts, folders), so it is
testable without training.
"""

from __future__ import annotations

import json
import math
import os
import resource
import shutil
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping

# Files of an adapter folder worth shipping; training_args.bin (a pickle) stays behind.
EXPORT_SUFFIXES = (".json", ".safetensors", ".jinja", ".md", ".txt", ".model")


def loss_points(log_history: Iterable[Mapping[str, Any]]) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """(train, eval) lists of (step, loss) from ``trainer.state.log_history``."""
    train, evals = [], []
    for entry in log_history:
        step = entry.get("step")
        if step is None:
            continue
        if "loss" in entry and math.isfinite(entry["loss"]):
            train.append((int(step), float(entry["loss"])))
        if "eval_loss" in entry and math.isfinite(entry["eval_loss"]):
            evals.append((int(step), float(entry["eval_loss"])))
    return train, evals


def plot_loss_curve(log_history: Iterable[Mapping[str, Any]], path: str | Path, title: str = "") -> Path:
    """Train and eval loss against the optimizer step, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train, evals = loss_points(log_history)
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    if train:
        ax.plot(*zip(*train), label="train loss", color="tab:blue", linewidth=1.5)
    if evals:
        ax.plot(*zip(*evals), "o-", label="eval loss", color="tab:orange", linewidth=1.5)
    if not train and not evals:
        ax.text(0.5, 0.5, "no loss logged (raise max_steps or lower logging_steps)", ha="center",
                transform=ax.transAxes)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("cross-entropy on assistant tokens (nats)")
    ax.set_title(title or "SFT loss")
    ax.grid(alpha=0.3)
    if train or evals:
        ax.legend()
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def peak_memory_mb() -> dict[str, float]:
    """Peak resident memory of this process, and peak GPU memory allocated when CUDA is in use."""
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    rss = rss_kb / 1024 if sys.platform != "darwin" else rss_kb / 2**20
    out = {"peak_rss_mb": round(rss, 1)}
    try:
        import torch

        if torch.cuda.is_available() and torch.cuda.is_initialized():
            out["peak_gpu_allocated_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    except ImportError:
        pass
    return out


def write_json(path: str | Path, data: Mapping[str, Any]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def adapter_readme(info: Mapping[str, Any], metrics: Mapping[str, Any]) -> str:
    """A short model card for the adapter folder (replaces PEFT's long template)."""
    data = info.get("dataset", {}).get("train", {})
    lines = [
        f"# LoRA adapter for {info.get('base_model')}",
        "",
        "Trained by `training/train_sft.py` (ros2_llm_controller) with loss on assistant tokens only.",
        "",
        f"- base model: `{info.get('base_model')}` (resolved: `{info.get('base_model_resolved')}`)",
        f"- chat template: `{info.get('chat_template')}` (end of turn `{info.get('end_of_turn')}`)",
        f"- system prompt: \"{info.get('system_prompt')}\"",
        f"- training data: `{data.get('path')}` ({data.get('examples')} conversations, sha256 "
        f"`{str(data.get('sha256', ''))[:16]}...`)",
        f"- steps: {metrics.get('global_step')}, final train loss: {metrics.get('train_loss_last')}, "
        f"final eval loss: {metrics.get('eval_loss')}",
        "",
        "Load it with:",
        "",
        "```python",
        "from peft import PeftModel",
        "from transformers import AutoModelForCausalLM",
        "base = AutoModelForCausalLM.from_pretrained(BASE_MODEL_FOLDER)",
        "model = PeftModel.from_pretrained(base, ADAPTER_FOLDER)",
        "```",
        "",
        "Prompts must use the same chat template and system prompt (see `training_info.json`).",
        "",
    ]
    return "\n".join(lines)


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json",
                   "tokenizer.model", "added_tokens.json")


def export_adapter(adapter_dir: str | Path, export_dir: str | Path, include_tokenizer: bool = True) -> Path:
    """Replace ``export_dir`` with the shippable files of ``adapter_dir``.

    ``include_tokenizer=False`` leaves out the tokenizer copy the Trainer saves (3.5 MB for SmolLM2):
    when training added no token it equals the base model's, which loaders fall back to.

    Refuses to overwrite a non-empty folder that is not an adapter, so a typo cannot wipe a tree.
    The copy is made next to the target and renamed into place.
    """
    src, dst = Path(adapter_dir), Path(export_dir)
    if not (src / "adapter_config.json").is_file():
        raise FileNotFoundError(f"{src} holds no adapter_config.json")
    if dst.exists() and any(dst.iterdir()) and not (dst / "adapter_config.json").is_file():
        raise FileExistsError(f"export_dir {dst} exists and is not an adapter folder; refusing to replace it")
    dst.parent.mkdir(parents=True, exist_ok=True)
    staging = dst.with_name(dst.name + ".export-tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    for f in sorted(src.iterdir()):
        if f.is_file() and f.suffix in EXPORT_SUFFIXES and (include_tokenizer or f.name not in TOKENIZER_FILES):
            shutil.copy2(f, staging / f.name)
            os.chmod(staging / f.name, 0o644)  # safetensors writes 0600; installed copies must be readable
    if dst.exists():
        shutil.rmtree(dst)
    os.replace(staging, dst)
    return dst
