"""SFT recipes: a YAML file plus ``--key value`` overrides, checked key by key before anything loads.

Top-level keys (see ``config/sft_*.yaml``)::

    model            "embedded", a Hugging Face id or a local folder (through model_store.resolve_model)
    chat_template    auto | chatml | llama2 | llama3
    system_prompt    system turn forced on every conversation (null keeps the data's own)
    dtype            auto (fp32 on CPU, bf16 on GPU if supported else fp16) | float32 | bfloat16 | float16
    padding          longest (dynamic, default) | max_length (the benchmark's baseline)
    data             {dir, train, eval}: eval may be null
    lora             {r, alpha, dropout, target_modules}
    sft              any trl.SFTConfig field (output_dir required); bf16/fp16/use_cpu come from dtype
    export_dir       copy the final adapter there (null: no export)
    merge            also write a merged full model to <output_dir>/merged

Overrides: ``--sft.max_steps 20``, ``--lora.r 8``, ``--export_dir null``; a bare SFTConfig field
(``--max_steps 20``) means ``sft.<field>``. Values are parsed as YAML. Unknown keys are errors.

Why not TRL's ``TrlParser`` (dataclasses + ``--config`` YAML + CLI overrides): it parses flat dataclass
fields (``SFTConfig``, ``ModelConfig``, a script dataclass), while a recipe is nested (``lora:``,
``data:``, ``sft:``) and that nesting is what ``config/sft_*.yaml`` and every adapter's
``training_info.json`` record. Using it would mean a flat recipe format, plus these checks on top
anyway: keys derived from ``dtype`` and the device are refused (``DERIVED_SFT_KEYS``), unknown keys
get a did-you-mean, and everything is checked before a model loads. ``SFTConfig`` itself still
validates the ``sft:`` section (its fields are read from the dataclass, not listed here).
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import re
from pathlib import Path
from typing import Any

import yaml

from ros2_llm_controller.core.chat_templates import ChatFormatError, canonical_name
from ros2_llm_controller.core.config import DEFAULT_SYSTEM_PROMPT
from ros2_llm_controller.core.torch_setup import DTYPES

from .collator import PADDING_CHOICES

LORA_KEYS = ("r", "alpha", "dropout", "target_modules")
DATA_KEYS = ("dir", "train", "eval")
# Derived from `dtype` and the device; a recipe setting them would silently fight that logic.
DERIVED_SFT_KEYS = {"bf16": "dtype", "fp16": "dtype", "use_cpu": "dtype (CPU is used when no GPU is visible)",
                    "dataset_kwargs": "the trainer (pre-tokenised data)", "remove_unused_columns": "the trainer"}

DEFAULTS: dict[str, Any] = {
    "model": "embedded",
    "chat_template": "auto",
    "system_prompt": DEFAULT_SYSTEM_PROMPT,
    "dtype": "auto",
    "padding": "longest",
    "data": {"dir": "data/robot", "train": "train.jsonl", "eval": "validation.jsonl"},
    "lora": {"r": 16, "alpha": 32, "dropout": 0.05, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]},
    # Our defaults on top of SFTConfig's (whose lr 2e-5 suits full fine-tuning, not LoRA).
    "sft": {
        "learning_rate": 2e-4,
        "max_length": 512,
        "train_sampling_strategy": "group_by_length",  # batches of similar length: little padding
        "logging_steps": 10,
        "save_strategy": "steps",
        "save_steps": 50,
        "save_total_limit": 2,
        "report_to": "none",
        "prediction_loss_only": True,  # the fused LM head gives no logits; asking for them costs a forward
        "label_names": ["labels"],
        "include_num_input_tokens_seen": "non_padding",
        "seed": 42,
    },
    "export_dir": None,
    "merge": False,
}


class RecipeError(ValueError):
    """A recipe key or value that cannot be used."""


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads ``2e-4`` as a float (YAML 1.1 insists on ``2.0e-4``) and only true/false as
    booleans: ``eval_strategy: no`` must stay the string "no", not become False."""


_BOOL = "tag:yaml.org,2002:bool"
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _BOOL]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$"), list("-+0123456789."))


def parse_value(text: str) -> Any:
    """A command-line value as YAML: ``20`` -> 20, ``2e-4`` -> 0.0002, ``null`` -> None, ``[a, b]`` -> list."""
    return yaml.load(text, Loader=_Loader)


def sft_fields() -> set[str]:
    from trl import SFTConfig

    return {f.name for f in dataclasses.fields(SFTConfig) if f.init}


def _unknown(key: str, known, where: str) -> RecipeError:
    hint = difflib.get_close_matches(key, list(known), n=1)
    did = f" (did you mean {hint[0]!r}?)" if hint else ""
    return RecipeError(f"unknown {where} key {key!r}{did}; known: {', '.join(sorted(known))}")


def _merge_section(base: dict, section: Any, name: str, known) -> dict:
    if section is None:
        return base
    if not isinstance(section, dict):
        raise RecipeError(f"'{name}' must be a mapping, got {type(section).__name__}")
    for key in section:
        if key not in known:
            raise _unknown(key, known, name)
    return {**base, **section}


def build_recipe(doc: dict | None, overrides: dict[str, Any] | None = None, source: str = "recipe") -> dict:
    """Defaults + ``doc`` + dotted ``overrides``, validated. Returns a plain dict (saved with the adapter)."""
    doc = copy.deepcopy(doc or {})
    if not isinstance(doc, dict):
        raise RecipeError(f"{source}: a recipe must be a YAML mapping")
    for dotted, value in (overrides or {}).items():
        _set_dotted(doc, dotted, value)
    recipe = copy.deepcopy(DEFAULTS)
    for key in doc:
        if key not in DEFAULTS:
            raise _unknown(key, DEFAULTS, "recipe")
    for key in ("model", "chat_template", "system_prompt", "dtype", "padding", "export_dir", "merge"):
        if key in doc:
            recipe[key] = doc[key]
    recipe["data"] = _merge_section(recipe["data"], doc.get("data"), "data", DATA_KEYS)
    recipe["lora"] = _merge_section(recipe["lora"], doc.get("lora"), "lora", LORA_KEYS)
    fields = sft_fields()
    sft = doc.get("sft") or {}
    for key in sft:
        if key in DERIVED_SFT_KEYS:
            raise RecipeError(f"sft.{key} is set by the trainer from {DERIVED_SFT_KEYS[key]}; remove it")
    recipe["sft"] = _merge_section(recipe["sft"], sft, "sft", fields)
    _validate(recipe, source)
    return recipe


def _set_dotted(doc: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    if len(parts) == 1 and parts[0] not in DEFAULTS and parts[0] in sft_fields():
        parts = ["sft", parts[0]]  # --max_steps 20 == --sft.max_steps 20
    if len(parts) > 2:
        raise RecipeError(f"override --{dotted}: at most one level of nesting (section.key)")
    if len(parts) == 2:
        section = doc.setdefault(parts[0], {})
        if section is None:
            section = doc[parts[0]] = {}
        if not isinstance(section, dict):
            raise RecipeError(f"override --{dotted}: '{parts[0]}' is not a section")
        section[parts[1]] = value
    else:
        doc[parts[0]] = value


def _validate(recipe: dict, source: str) -> None:
    def need(cond: bool, msg: str) -> None:
        if not cond:
            raise RecipeError(f"{source}: {msg}")

    need(isinstance(recipe["model"], str) and recipe["model"].strip() != "", "model must be a non-empty string")
    try:
        recipe["chat_template"] = canonical_name(str(recipe["chat_template"]))
    except ChatFormatError as exc:
        raise RecipeError(f"{source}: {exc}") from None
    sp = recipe["system_prompt"]
    need(sp is None or (isinstance(sp, str) and sp.strip() != ""), "system_prompt must be text or null")
    need(recipe["dtype"] in DTYPES, f"dtype must be one of {DTYPES}")
    need(recipe["padding"] in PADDING_CHOICES, f"padding must be one of {PADDING_CHOICES}")
    need(isinstance(recipe["merge"], bool), "merge must be true or false")
    need(recipe["export_dir"] is None or isinstance(recipe["export_dir"], str), "export_dir must be a path or null")
    data = recipe["data"]
    need(isinstance(data["train"], str) and data["train"] != "", "data.train must be a file name")
    need(data["eval"] is None or isinstance(data["eval"], str), "data.eval must be a file name or null")
    lora = recipe["lora"]
    need(isinstance(lora["r"], int) and not isinstance(lora["r"], bool) and lora["r"] > 0,
         "lora.r must be a positive integer")
    need(isinstance(lora["alpha"], (int, float)) and lora["alpha"] > 0, "lora.alpha must be positive")
    need(isinstance(lora["dropout"], (int, float)) and 0 <= lora["dropout"] < 1, "lora.dropout must be in [0, 1)")
    tm = lora["target_modules"]
    need(tm == "all-linear" or (isinstance(tm, list) and tm and all(isinstance(t, str) for t in tm)),
         "lora.target_modules must be a list of module names or 'all-linear'")
    sft = recipe["sft"]
    need(isinstance(sft.get("output_dir"), str) and sft["output_dir"] != "", "sft.output_dir is required")
    ml = sft.get("max_length")
    need(isinstance(ml, int) and ml > 0, "sft.max_length must be a positive integer (the collator truncates to it)")


def load_recipe(path: str | Path, overrides: dict[str, Any] | None = None) -> dict:
    """Read and validate a recipe file (see the module docstring for its keys)."""
    p = Path(path)
    try:
        doc = yaml.load(p.read_text(encoding="utf-8"), Loader=_Loader)
    except OSError as exc:
        raise RecipeError(f"cannot read recipe {p}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise RecipeError(f"{p}: invalid YAML: {exc}") from exc
    return build_recipe(doc, overrides, str(p))


def parse_overrides(tokens: list[str]) -> dict[str, Any]:
    """``["--sft.max_steps", "20", "--merge=true"]`` -> ``{"sft.max_steps": 20, "merge": True}``."""
    out: dict[str, Any] = {}
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if not tok.startswith("--") or len(tok) < 3:
            raise RecipeError(f"expected --key value, got {tok!r}")
        key = tok[2:]
        if "=" in key:
            key, text = key.split("=", 1)
            i += 1
        else:
            if i + 1 >= len(tokens) or tokens[i + 1].startswith("--"):
                raise RecipeError(f"--{key} needs a value")
            text = tokens[i + 1]
            i += 2
        out[key.replace("-", "_")] = parse_value(text)
    return out
