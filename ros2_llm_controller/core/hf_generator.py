"""The Hugging Face generator: a causal LM (plus an optional LoRA adapter) answering chat messages.

Implements the ``Generator`` protocol of ``core.generation``. Built for latency on small CPUs:

* The prompt is rendered with ``core.chat_templates`` (the same code the training data used), so
  the model sees exactly the format it was fine-tuned on.
* The key/value cache of the shared prompt prefix (the rendered system prompt up to where the user's
  text starts) is computed once per system prompt; each call copies it and feeds only the rest.
  Greedy output is identical to a full prefill (tested).
* Decoding is a short hand-written loop (``_decode``): for the 5-15 tokens a command needs,
  ``model.generate()``'s per-call set-up cost is a noticeable share of the latency.
* ``cancel`` (a ``threading.Event``) is checked before the prefill and after every token.

torch, transformers and peft are imported when a generator is built, not when this module is.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Mapping, Sequence

from .chat_templates import ChatFormatError, canonical_name, end_of_turn_for, generation_prompt
from .generation import GenerationCancelled, GenerationError, GenerationResult, fold_shouting

DTYPES = ("auto", "float32", "bfloat16", "float16")
# The user text is replaced by this marker to find where the shared prompt prefix ends.
_USER_MARKER = "\u2063USER\u2063"
_PREFIX_CACHE_SLOTS = 4  # system prompts whose prefix cache is kept (one in normal use)


def pick_device(device: str = "auto") -> str:
    """``auto`` -> cuda if available, else mps, else cpu; otherwise the value, checked."""
    import torch

    name = (device or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        return "mps" if mps is not None and mps.is_available() else "cpu"
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError) as exc:
        raise GenerationError(f"invalid device {device!r}: {exc}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise GenerationError(f"device {device!r} requested but CUDA is not available")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise GenerationError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s)")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise GenerationError(f"device {device!r} requested but MPS is not available")
    return name


def pick_dtype(dtype: str, device: str):
    """``auto`` -> float32 on CPU (fastest there without AVX-512 bf16), bfloat16/float16 on GPUs."""
    import torch

    name = (dtype or "auto").strip().lower()
    if name not in DTYPES:
        raise GenerationError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    if name != "auto":
        return getattr(torch, name)
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.startswith("mps"):
        return torch.float16
    return torch.float32


class HFGenerator:
    """A causal LM from a local folder or Hugging Face id, optionally with a PEFT LoRA adapter."""

    def __init__(self, model: str, adapter: str | None = None, chat_template: str = "auto", device: str = "auto",
                 dtype: str = "auto", max_new_tokens: int = 32, merge_adapter: bool = True, do_sample: bool = False,
                 temperature: float = 0.7, reuse_prefix_cache: bool = True, system_prompt: str | None = None):
        if not model or not str(model).strip():
            raise GenerationError("no model given")
        if int(max_new_tokens) < 1:
            raise GenerationError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        if do_sample and not temperature > 0:
            raise GenerationError(f"temperature must be > 0 when sampling, got {temperature}")
        try:
            self.template = canonical_name(chat_template)
        except ChatFormatError as exc:
            raise GenerationError(str(exc)) from exc
        self.model_name = str(model)
        self.adapter = adapter or None
        self.max_new_tokens = int(max_new_tokens)
        self.merge_adapter = bool(merge_adapter)
        self.do_sample = bool(do_sample)
        self.temperature = float(temperature)
        self.reuse_prefix_cache = bool(reuse_prefix_cache)
        self.system_prompt = system_prompt
        self.device = pick_device(device)
        self.dtype = pick_dtype(dtype, self.device)
        self._lock = threading.Lock()  # one generation at a time: the model and the caches are shared
        self._prefix_caches: OrderedDict[str, tuple[list[int], Any]] = OrderedDict()
        self.load_s = 0.0
        t0 = time.monotonic()
        self.tokenizer = self._load_tokenizer()
        self.model = self._load_model()
        self._setup_stop_tokens()
        self.load_s = time.monotonic() - t0

    @classmethod
    def from_config(cls, cfg) -> "HFGenerator":
        """Build from a ``ControllerConfig``: 'embedded' and 'default' are resolved through model_store."""
        from .model_store import ModelStoreError, resolve_adapter, resolve_model

        try:
            model = resolve_model(cfg.model)
            adapter = resolve_adapter(cfg.adapter, cfg.model)
        except (ModelStoreError, ValueError) as exc:
            raise GenerationError(str(exc)) from exc
        return cls(model, adapter=adapter, chat_template=cfg.chat_template, device=cfg.device, dtype=cfg.dtype,
                   max_new_tokens=cfg.max_new_tokens, merge_adapter=cfg.merge_adapter,
                   system_prompt=cfg.system_prompt or None)

    # ---- loading ----

    def _load_tokenizer(self):
        from transformers import AutoTokenizer

        # A trainer saves the tokenizer next to the adapter; prefer it (same vocabulary, maybe a chat template).
        source = self.model_name
        if self.adapter and (Path(self.adapter) / "tokenizer_config.json").is_file():
            source = self.adapter
        try:
            tok = AutoTokenizer.from_pretrained(source)
        except Exception as exc:  # OSError, ValueError, ... depending on what is missing
            raise GenerationError(f"cannot load the tokenizer of {source!r}: {_short(exc)}") from exc
        if self.template == "auto" and not getattr(tok, "chat_template", None):
            raise GenerationError(f"{source!r} has no chat template of its own; set chat_template to "
                                  "chatml, llama2 or llama3")
        return tok

    def _load_model(self):
        import torch
        from transformers import AutoModelForCausalLM

        try:
            model = AutoModelForCausalLM.from_pretrained(self.model_name, dtype=self.dtype)
        except Exception as exc:
            raise GenerationError(f"cannot load model {self.model_name!r}: {_short(exc)}") from exc
        if self.adapter:
            model = self._attach_adapter(model)
        try:
            model.to(self.device)
        except (RuntimeError, torch.OutOfMemoryError) as exc:
            raise GenerationError(f"cannot move the model to {self.device}: {_short(exc)}") from exc
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        return model

    def _attach_adapter(self, model):
        from peft import PeftModel

        try:
            peft_model = PeftModel.from_pretrained(model, self.adapter, is_trainable=False)
        except Exception as exc:  # size mismatch (adapter for another base), missing files, bad config
            raise GenerationError(f"cannot apply adapter {self.adapter!r} to model {self.model_name!r} "
                                  f"(trained for another base model?): {_short(exc)}") from exc
        if not self.merge_adapter:
            return peft_model
        try:
            return peft_model.merge_and_unload()
        except Exception as exc:
            raise GenerationError(f"cannot merge adapter {self.adapter!r}: {_short(exc)}") from exc

    def _setup_stop_tokens(self) -> None:
        """Token ids that end a turn: the template's end-of-turn marker and the eos token(s)."""
        tok = self.tokenizer
        try:
            self.end_of_turn = end_of_turn_for(self.template, tok)
        except ChatFormatError as exc:
            raise GenerationError(str(exc)) from exc
        ids: set[int] = set()
        if self.end_of_turn:
            enc = tok.encode(self.end_of_turn, add_special_tokens=False)
            if len(enc) != 1:
                raise GenerationError(f"end-of-turn marker {self.end_of_turn!r} is not a single token of this "
                                      f"tokenizer (template {self.template!r} does not fit the model)")
            ids.add(enc[0])
        for eos in (tok.eos_token_id, getattr(self.model.generation_config, "eos_token_id", None)):
            if isinstance(eos, int):
                ids.add(eos)
            elif isinstance(eos, (list, tuple)):
                ids.update(int(e) for e in eos)
        self.stop_ids = frozenset(ids)
        self._max_positions = getattr(self.model.config, "max_position_embeddings", None)

    # ---- generation ----

    def generate(self, messages: Sequence[Mapping[str, str]], cancel: threading.Event | None = None,
                 max_new_tokens: int | None = None) -> GenerationResult:
        """The next assistant turn for ``messages``; raises GenerationCancelled when ``cancel`` is set."""
        import torch

        t0 = time.monotonic()
        limit = int(max_new_tokens or self.max_new_tokens)
        messages = fold_shouting(messages)
        try:
            prompt = generation_prompt(messages, self.template, self.tokenizer)
        except ChatFormatError as exc:
            raise GenerationError(f"cannot render the prompt: {exc}") from exc
        ids = self.tokenizer.encode(prompt, add_special_tokens=False)  # named templates carry their own BOS
        if self._max_positions and len(ids) + limit > self._max_positions:
            raise GenerationError(f"prompt of {len(ids)} tokens + {limit} new tokens exceeds the model's "
                                  f"{self._max_positions} positions")
        with self._lock:
            _check_cancel(cancel)
            try:
                with torch.inference_mode():
                    new_ids, first_token_s = self._decode(messages, ids, limit, cancel, t0)
            except GenerationCancelled:
                raise
            except GenerationError:
                raise
            except Exception as exc:  # OOM, device errors, shape errors from a broken model
                raise GenerationError(f"generation failed: {type(exc).__name__}: {_short(exc)}") from exc
        text = self.tokenizer.decode(new_ids, skip_special_tokens=True).strip()
        return GenerationResult(text, len(new_ids), time.monotonic() - t0, first_token_s)

    def _decode(self, messages, ids: list[int], limit: int, cancel, t0: float) -> tuple[list[int], float]:
        """Prefill (from the cached prefix when possible), then one token per forward pass."""
        import torch

        cache, start = self._cache_for(messages, ids)
        model = self.model
        feed = torch.tensor([ids[start:]], device=self.device)
        out_ids: list[int] = []
        first_token_s = 0.0
        for step in range(limit):
            out = model(input_ids=feed, past_key_values=cache, use_cache=True, logits_to_keep=1)
            cache = out.past_key_values
            next_id = self._pick(out.logits[0, -1])
            if step == 0:
                first_token_s = time.monotonic() - t0
            _check_cancel(cancel)
            if next_id in self.stop_ids:
                break
            out_ids.append(next_id)
            feed = torch.tensor([[next_id]], device=self.device)
        return out_ids, first_token_s

    def _pick(self, logits) -> int:
        import torch

        if not self.do_sample:
            return int(torch.argmax(logits))
        probs = torch.softmax(logits.float() / self.temperature, dim=-1)
        return int(torch.multinomial(probs, 1))

    # ---- prefix cache ----

    def _cache_for(self, messages, ids: list[int]):
        """A fresh cache holding the shared prompt prefix, and how many of ``ids`` it covers."""
        if not self.reuse_prefix_cache:
            return None, 0
        prefix = self._prefix_text(messages)
        if prefix is None:
            return None, 0
        entry = self._prefix_caches.get(prefix)
        if entry is None:
            entry = self._build_prefix(prefix)
            self._prefix_caches[prefix] = entry
            while len(self._prefix_caches) > _PREFIX_CACHE_SLOTS:
                self._prefix_caches.popitem(last=False)
        else:
            self._prefix_caches.move_to_end(prefix)
        prefix_ids, cache = entry
        n = len(prefix_ids)
        # Tokenisation may merge across the boundary; then the cache does not apply and we prefill it all.
        if n == 0 or n >= len(ids) or ids[:n] != prefix_ids:
            return None, 0
        return copy.deepcopy(cache), n

    def _prefix_text(self, messages) -> str | None:
        """The rendered prompt up to where the last user message's text starts."""
        msgs = [dict(m) for m in messages]
        if not msgs or msgs[-1].get("role") != "user":
            return None
        msgs[-1]["content"] = _USER_MARKER
        try:
            text = generation_prompt(msgs, self.template, self.tokenizer)
        except ChatFormatError:
            return None
        at = text.find(_USER_MARKER)
        return text[:at] if at > 0 else None

    def _build_prefix(self, prefix: str) -> tuple[list[int], Any]:
        import torch

        prefix_ids = self.tokenizer.encode(prefix, add_special_tokens=False)
        if not prefix_ids:
            return prefix_ids, None
        with torch.inference_mode():
            out = self.model(input_ids=torch.tensor([prefix_ids], device=self.device), use_cache=True,
                             logits_to_keep=1)
        return prefix_ids, out.past_key_values

    # ---- helpers for the node and the benchmarks ----

    def warmup(self, command: str = "stop") -> GenerationResult:
        """One short generation: builds the prefix cache and wakes up the kernels."""
        msgs = ([{"role": "system", "content": self.system_prompt}] if self.system_prompt else [])
        return self.generate(msgs + [{"role": "user", "content": command}], max_new_tokens=2)

    def prompt_tokens(self, messages: Sequence[Mapping[str, str]]) -> int:
        return len(self.tokenizer.encode(generation_prompt(messages, self.template, self.tokenizer),
                                         add_special_tokens=False))

    def describe(self) -> dict:
        return {
            "model": self.model_name,
            "adapter": self.adapter,
            "merged": bool(self.adapter) and self.merge_adapter,
            "template": self.template,
            "end_of_turn": self.end_of_turn,
            "device": self.device,
            "dtype": str(self.dtype).removeprefix("torch."),
            "max_new_tokens": self.max_new_tokens,
            "do_sample": self.do_sample,
            "prefix_cache": self.reuse_prefix_cache,
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "load_s": round(self.load_s, 3),
        }


def _check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise GenerationCancelled("generation cancelled")


def _short(exc: BaseException, limit: int = 400) -> str:
    text = str(exc).strip().replace("\n", " ")
    return text if len(text) <= limit else text[:limit] + "..."
