"""LoRA supervised fine-tuning with loss on assistant tokens only (TRL SFTTrainer + PEFT).

    python -m training.train_sft --config config/sft_smollm2_cpu.yaml [--sft.max_steps 20 ...]
    accelerate launch -m training.train_sft --config config/sft_tinyllama.yaml     # several GPUs

Steps: read the recipe (``training/sft_recipe.py``), resolve the model (``"embedded"`` -> the local
SmolLM2 folder), pick a pad token distinct from the end-of-turn token, load and check the JSONL data
(errors name file and line), pre-tokenise it once with ``datasets.map`` (labels -100 outside
assistant turns), train with dynamic padding and length-grouped batches, resume from the last
complete checkpoint in ``output_dir`` (``--resume auto``, the default), then write into
``output_dir``: ``adapter/`` (PEFT adapter + tokenizer + training_info.json + metrics.json),
``metrics.json``, ``loss_curve.png`` and, with ``merge: true``, ``merged/``; finally copy the
adapter to ``export_dir`` if the recipe names one.
"""

from __future__ import annotations

import argparse
import logging
from collections import Counter
import os
import re
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from ros2_llm_controller.core.generation import GenerationError
from ros2_llm_controller.core.torch_setup import dtype_name, pick_device, pick_dtype

from .collator import AssistantOnlyCollator, ensure_pad_token, tokenize_dataset
from .data_io import DatasetError, load_conversations, sha256_file, with_system_prompt
from .sft_recipe import RecipeError, load_recipe, parse_overrides
from .sft_report import adapter_readme, export_adapter, peak_memory_mb, plot_loss_curve, write_json

log = logging.getLogger("train_sft")
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


# ---------------------------------------------------------------- devices and dtypes

def device_kind() -> str:
    """"cuda", "mps" or "cpu": where the Trainer will put the model (accelerate decides the index)."""
    return pick_device("auto")


def precision(dtype: str, device: str) -> tuple[Any, dict[str, bool]]:
    """(weights dtype, SFTConfig flags) for a recipe dtype on a device: ``core.torch_setup``'s rule for
    training (auto: fp32 on CPU/MPS; on CUDA bf16 where supported, else fp16). Off CUDA mixed precision
    is off."""
    try:
        name = dtype_name(dtype, device, training=True)
    except GenerationError as exc:
        raise RecipeError(str(exc)) from exc
    flags = {"bf16": device == "cuda" and name == "bfloat16", "fp16": device == "cuda" and name == "float16"}
    return pick_dtype(name, device, training=True), flags


# ---------------------------------------------------------------- checkpoints

def find_resume_checkpoint(output_dir: str | Path) -> str | None:
    """The newest ``checkpoint-N`` that was written completely (trainer_state.json is saved last)."""
    out = Path(output_dir)
    if not out.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in out.iterdir() if p.is_dir() and (m := _CHECKPOINT.match(p.name))]
    for _, path in sorted(found, reverse=True):
        if (path / "trainer_state.json").is_file():
            return str(path)
        log.warning("ignoring incomplete checkpoint %s (no trainer_state.json)", path)
    return None


def resume_target(resume: str, output_dir: str) -> str | None:
    """``auto``: the last complete checkpoint if any; ``never``: start over; else a checkpoint path."""
    if resume == "never":
        return None
    if resume == "auto":
        return find_resume_checkpoint(output_dir)
    if not (Path(resume) / "trainer_state.json").is_file():
        raise FileNotFoundError(f"--resume {resume}: not a checkpoint folder (no trainer_state.json)")
    return resume


# ---------------------------------------------------------------- data

def _data_path(recipe: dict, key: str) -> Path | None:
    name = recipe["data"][key]
    if name is None:
        return None
    path = Path(name)
    return path if path.is_absolute() or recipe["data"]["dir"] is None else Path(recipe["data"]["dir"]) / path


def build_split(path: Path, recipe: dict, tokenizer: Any, name: str) -> tuple[Any, dict]:
    """A pre-tokenised ``datasets.Dataset`` (input_ids, labels, length, id) and its statistics."""
    from datasets import Dataset

    convs, changed = with_system_prompt(load_conversations(path), recipe["system_prompt"])
    if changed:
        log.info("%s: system prompt set on %d of %d conversations", path, changed, len(convs))
    # Only id + role/content go to Arrow: free-form columns (meta, target) may not have one schema.
    raw = Dataset.from_list([{"id": str(c.get("id", i)),
                              "messages": [{"role": m["role"], "content": m["content"]} for m in c["messages"]]}
                             for i, c in enumerate(convs)])
    template, max_length = recipe["chat_template"], recipe["sft"]["max_length"]

    def tokenize(batch: dict[str, list]) -> dict[str, list]:
        convs = [{"id": i, "messages": m} for i, m in zip(batch["id"], batch["messages"])]
        rows, _ = tokenize_dataset(convs, tokenizer, template, max_length)  # dropped = ids missing below
        return {key: [row[key] for row in rows] for key in ("id", "input_ids", "labels", "length")}

    ds = raw.map(tokenize, batched=True, num_proc=1, remove_columns=raw.column_names, desc=f"tokenize {name}")
    dropped = sorted((Counter(raw["id"]) - Counter(ds["id"])).elements())
    if dropped:
        log.warning("%s: dropped %d conversations with no assistant token within max_length=%d (e.g. %s)",
                    path, len(dropped), max_length, dropped[:5])
    if len(ds) == 0:
        raise RecipeError(f"{path}: no conversation left after tokenisation (max_length={max_length})")
    lengths = ds["length"]
    supervised = [sum(1 for t in labels if t != -100) for labels in ds["labels"]]
    stats = {"path": str(path), "sha256": sha256_file(path), "examples": len(ds), "dropped": len(dropped),
             "dropped_ids": dropped[:20], "system_prompt_set": changed,
             "tokens_mean": round(sum(lengths) / len(lengths), 2), "tokens_max": max(lengths),
             "assistant_tokens_mean": round(sum(supervised) / len(supervised), 2),
             "truncated": sum(1 for n in lengths if n >= max_length)}  # cut to max_length, answers kept
    return ds, stats


# ---------------------------------------------------------------- model

def load_model_and_tokenizer(recipe: dict, device: str) -> tuple[Any, Any, str, bool]:
    """(model, tokenizer, resolved path, pad token added). No device moves: the Trainer/accelerate place it."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ros2_llm_controller.core.model_store import resolve_model

    path = resolve_model(recipe["model"])
    tokenizer = AutoTokenizer.from_pretrained(path)
    if not getattr(tokenizer, "is_fast", False):
        raise RecipeError(f"{path}: a fast tokenizer is needed (offset mapping marks the assistant tokens)")
    if recipe["chat_template"] == "auto" and not getattr(tokenizer, "chat_template", None):
        raise RecipeError(f"{path}: the tokenizer has no chat template; set chat_template to chatml/llama2/llama3")
    added = ensure_pad_token(tokenizer, recipe["chat_template"])
    torch_dtype, _ = precision(recipe["dtype"], device)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype)
    if added:
        model.resize_token_embeddings(len(tokenizer))
    model.config.pad_token_id = tokenizer.pad_token_id
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer, path, added


def lora_config(recipe: dict):
    from peft import LoraConfig

    lora = recipe["lora"]
    return LoraConfig(r=lora["r"], lora_alpha=lora["alpha"], lora_dropout=lora["dropout"],
                      target_modules=lora["target_modules"], bias="none", task_type="CAUSAL_LM")


def sft_config(recipe: dict, device: str, report: Callable[[str], None] = print):
    """SFTConfig from the recipe, plus what the device and the pre-tokenised data impose.

    Every value set here that the recipe's ``sft:`` section does not say is reported through ``report``
    (one line each), so that what runs is what the recipe says plus what this prints.
    """
    from trl import SFTConfig

    kwargs = dict(recipe["sft"])
    changes: list[str] = []

    def impose(key: str, value: Any, why: str) -> None:
        if key in kwargs and kwargs[key] == value:
            return
        before = f"{kwargs[key]!r}" if key in kwargs else "unset"
        kwargs[key] = value
        changes.append(f"sft.{key}: {before} -> {value!r} ({why})")

    _, flags = precision(recipe["dtype"], device)
    for key, value in flags.items():  # always: SFTConfig's own default is bf16=True
        impose(key, value, f"dtype {recipe['dtype']} on {device}")
    # transformers 5 renamed gradient_checkpointing (TRL defaults it to True) to activation_checkpointing.
    if "gradient_checkpointing" in kwargs:
        legacy = kwargs.pop("gradient_checkpointing")
        if "activation_checkpointing" not in kwargs:
            kwargs["activation_checkpointing"] = legacy
            changes.append(f"sft.gradient_checkpointing={legacy!r} read as activation_checkpointing (transformers 5)")
    if device != "cuda":
        impose("activation_checkpointing", False, f"on {device}, recomputing activations only slows small models")
    elif "activation_checkpointing" not in kwargs:
        impose("activation_checkpointing", True, "TRL's default")
    if device == "cpu":
        impose("use_cpu", True, "no GPU visible")
    impose("dataset_kwargs", {"skip_prepare_dataset": True}, "the data is tokenised by training.collator")
    impose("remove_unused_columns", False, "the collator reads the tokenised columns")
    if not recipe["data"]["eval"]:
        impose("eval_strategy", "no", "the recipe has no eval data")
    for line in changes:
        report(f"recipe adjusted: {line}")
    return SFTConfig(**kwargs)


# ---------------------------------------------------------------- run

def train(recipe: dict, resume: str = "auto", command: list[str] | None = None, callbacks: list | None = None) -> dict:
    """Run one recipe end to end; returns the metrics dict (also written to ``metrics.json``).

    ``callbacks``: extra ``transformers.TrainerCallback`` objects (the throughput benchmark times steps).
    """
    from transformers import set_seed
    from trl import SFTTrainer

    started = time.time()
    device = device_kind()
    set_seed(recipe["sft"].get("seed", 42))
    model, tokenizer, model_path, pad_added = load_model_and_tokenizer(recipe, device)
    train_ds, train_stats = build_split(_data_path(recipe, "train"), recipe, tokenizer, "train")
    eval_path = _data_path(recipe, "eval")
    eval_ds, eval_stats = build_split(eval_path, recipe, tokenizer, "eval") if eval_path else (None, None)

    args = sft_config(recipe, device)
    collator = AssistantOnlyCollator(tokenizer, recipe["chat_template"], args.max_length, recipe["padding"],
                                     args.pad_to_multiple_of)
    trainer = SFTTrainer(model=model, args=args, data_collator=collator, train_dataset=train_ds,
                         eval_dataset=eval_ds, processing_class=tokenizer, peft_config=lora_config(recipe),
                         callbacks=callbacks)
    trainable, total = trainer.model.get_nb_trainable_parameters()
    if trainer.is_world_process_zero():
        print(f"trainable params: {trainable:,} || all params: {total:,} || trainable%: {100 * trainable / total:.4f}"
              f" | device {device}, dtype {model.dtype}, train {len(train_ds)} / eval "
              f"{len(eval_ds) if eval_ds is not None else 0} conversations", flush=True)

    checkpoint = resume_target(resume, args.output_dir)
    start_step = start_tokens = 0
    if checkpoint:
        from transformers import TrainerState

        saved = TrainerState.load_from_json(os.path.join(checkpoint, "trainer_state.json"))
        start_step, start_tokens = saved.global_step, saved.num_input_tokens_seen
        log.warning("resuming from %s (step %d)", checkpoint, start_step)
    train_started = time.time()
    result = trainer.train(resume_from_checkpoint=checkpoint)
    train_seconds = time.time() - train_started
    eval_metrics = final_eval(trainer) if eval_ds is not None else {}

    out = Path(args.output_dir)
    adapter_dir = out / "adapter"
    trainer.save_model(str(adapter_dir))  # PEFT adapter (safetensors) + tokenizer, collective-safe
    state = trainer.state
    session_steps = state.global_step - start_step
    session_tokens = state.num_input_tokens_seen - start_tokens
    train_losses = [e["loss"] for e in state.log_history if "loss" in e]
    metrics = {
        "global_step": state.global_step,
        "resumed_from_step": start_step,
        "epochs": round(state.epoch or 0.0, 4),
        "train_loss_last": train_losses[-1] if train_losses else None,
        "train_loss_mean": result.training_loss,
        "eval_loss": eval_metrics.get("eval_loss"),
        "eval_mean_token_accuracy": eval_metrics.get("eval_mean_token_accuracy"),
        "tokens_seen": state.num_input_tokens_seen,  # non-padding tokens, whole run (kept across resumes)
        "tokens_per_second": round(session_tokens / train_seconds, 2) if train_seconds > 0 else None,
        "seconds_per_step": round(train_seconds / session_steps, 3) if session_steps else None,
        "tokens_per_step": round(session_tokens / session_steps, 1) if session_steps else None,
        "train_seconds": round(train_seconds, 2),
        "wall_seconds": round(time.time() - started, 2),
        "trainable_params": trainable,
        "total_params": total,
        "effective_batch": args.per_device_train_batch_size * args.gradient_accumulation_steps * args.world_size,
        "device": device,
        "dtype": str(model.dtype).replace("torch.", ""),
        **peak_memory_mb(),
        "dataset": {"train": train_stats, "eval": eval_stats},
    }
    if not trainer.is_world_process_zero():
        return metrics

    info = training_info(recipe, model_path, tokenizer, train_stats, eval_stats, pad_added, command)
    write_json(adapter_dir / "training_info.json", info)
    write_json(adapter_dir / "metrics.json", metrics)
    (adapter_dir / "README.md").write_text(adapter_readme(info, metrics), encoding="utf-8")
    write_json(out / "metrics.json", metrics)
    plot_loss_curve(state.log_history, out / "loss_curve.png",
                    f"LoRA SFT of {recipe['model']} ({state.global_step} steps)")
    if recipe["merge"]:
        merged = trainer.model.merge_and_unload()
        merged.save_pretrained(out / "merged")
        tokenizer.save_pretrained(out / "merged")
        write_json(out / "merged" / "training_info.json", info)
    if recipe["export_dir"]:
        export_adapter(adapter_dir, recipe["export_dir"], include_tokenizer=pad_added)
        print(f"adapter exported to {recipe['export_dir']}", flush=True)
    print(f"done: step {state.global_step}, train loss {metrics['train_loss_last']}, eval loss "
          f"{metrics['eval_loss']}, {metrics['seconds_per_step']} s/step, adapter in {adapter_dir}", flush=True)
    return metrics


def final_eval(trainer: Any) -> dict:
    """Eval metrics at the last step: the Trainer's own if it just evaluated, else one more pass."""
    last = next((e for e in reversed(trainer.state.log_history) if "eval_loss" in e), None)
    if last is not None and last.get("step") == trainer.state.global_step:
        return last
    return trainer.evaluate()


def training_info(recipe: dict, model_path: str, tokenizer: Any, train_stats: dict, eval_stats: dict | None,
                  pad_added: bool, command: list[str] | None) -> dict:
    """Provenance saved beside the adapter: what it was trained from and how to prompt it."""
    import peft
    import torch
    import transformers
    import trl

    from ros2_llm_controller.core.chat_templates import detect_template, end_of_turn_for

    return {
        "base_model": recipe["model"],
        "base_model_resolved": model_path,
        "chat_template": recipe["chat_template"],
        "chat_template_detected": detect_template(tokenizer),
        "end_of_turn": end_of_turn_for(recipe["chat_template"], tokenizer),
        "system_prompt": recipe["system_prompt"],
        "pad_token": tokenizer.pad_token,
        "pad_token_added": pad_added,
        "max_length": recipe["sft"]["max_length"],
        "dataset": {"train": {k: train_stats[k] for k in ("path", "sha256", "examples", "dropped")},
                    "eval": ({k: eval_stats[k] for k in ("path", "sha256", "examples", "dropped")}
                             if eval_stats else None)},
        "recipe": recipe,
        "command": command or sys.argv,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "peft": peft.__version__, "trl": trl.__version__},
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, dict]:
    parser = argparse.ArgumentParser(
        prog="python -m training.train_sft", description=__doc__.split("\n\n")[0],
        epilog="Any recipe key can be overridden: --sft.max_steps 20, --lora.r 8, --max_steps 20 (= sft.max_steps), "
               "--export_dir null. Values are YAML.")
    parser.add_argument("--config", required=True, help="recipe YAML, e.g. config/sft_smollm2_cpu.yaml")
    parser.add_argument("--resume", default="auto",
                        help="auto (default): continue from the last checkpoint in output_dir if any; never; "
                             "or a checkpoint folder")
    args, rest = parser.parse_known_args(argv)
    return args, parse_overrides(rest)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    argv = sys.argv[1:] if argv is None else argv
    try:
        args, overrides = parse_args(argv)
        recipe = load_recipe(args.config, overrides)
        train(recipe, resume=args.resume, command=["python", "-m", "training.train_sft", *argv])
    except (RecipeError, DatasetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
