"""The same generator on ONNX Runtime GenAI: the merged model exported to ONNX, for lower latency on a CPU.

torch's eager mode spends much of a 135M model's decoding step in per-operator overhead; ONNX Runtime
runs the exported graph with fused kernels (measured here: 26 ms a step against torch's 33-45 ms). Everything but the
engine is ``HFGenerator``'s: the prompt (``chat_templates``), the grammar (llguidance, jump-forward),
cancellation, stop tokens and the closed-set re-ranking. Only ``_prefill``, ``_feed`` and
``_alternative_logprobs`` differ.

The model comes from ``model_store.export_onnx`` (the onnxruntime-genai model builder on the
merged model, written once into the cache). The key/value cache lives in one ``og.Generator``: a new
prompt rewinds it to the longest prefix it shares with the tokens already in it (the system prompt,
usually the history too) and feeds only the rest.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Sequence

from .generation import GenerationError
from .hf_generator import HFGenerator, _check_cancel, _short

CONTEXT_TOKENS = 1024  # the key/value buffer (prompt + history + answer); ONNX Runtime allocates it up front


class OrtGenerator(HFGenerator):
    """An exported ONNX Runtime GenAI model folder (``genai_config.json``, ``model.onnx``, tokenizer)."""

    def __init__(self, model: str, precision: str = "fp32", threads: int = 0, **kwargs):
        if not (Path(model) / "genai_config.json").is_file():
            raise GenerationError(f"{model} is not an ONNX Runtime GenAI model folder (no genai_config.json)")
        self.precision = precision
        self._call_lock = threading.Lock()
        # 0: the cores this process may use. ONNX Runtime's own default was slower here (36-44 ms a decoding
        # step against 26 ms with 2 threads on this 2-core machine).
        self.threads = int(threads) if int(threads) > 0 else len(os.sched_getaffinity(0))
        kwargs.pop("adapter", None)  # merged into the export
        kwargs.pop("merge_adapter", None)
        kwargs["device"], kwargs["dtype"] = "cpu", "auto"
        super().__init__(model, adapter=None, merge_adapter=False, **kwargs)

    def generate(self, messages, cancel=None, max_new_tokens=None, grammar=None, alternatives=None):
        """As ``HFGenerator.generate``; one call at a time from start to end, re-ranking included, because the
        prompt state the re-ranking resumes from lives in the one shared og.Generator."""
        with self._call_lock:
            return super().generate(messages, cancel=cancel, max_new_tokens=max_new_tokens, grammar=grammar,
                                    alternatives=alternatives)

    @classmethod
    def from_config(cls, cfg) -> "OrtGenerator":
        """'embedded' + 'default': the shipped adapter merged and exported (once, into the cache)."""
        from .model_store import ModelStoreError, export_onnx

        try:  # onnx_precision is one of config.ONNX_PRECISIONS: ControllerConfig checks its choices
            folder = export_onnx(cfg.model, cfg.adapter, cfg.onnx_precision)
        except (ModelStoreError, ValueError) as exc:
            raise GenerationError(str(exc)) from exc
        return cls(str(folder), precision=cfg.onnx_precision, chat_template=cfg.chat_template,
                   max_new_tokens=cfg.max_new_tokens, system_prompt=cfg.system_prompt or None,
                   max_command_tokens=cfg.max_command_tokens)

    # ---- loading ----

    def _load_model(self):
        import onnxruntime_genai as og

        folder = Path(self.model_name)
        try:
            config = og.Config(str(folder))
            config.overlay(json.dumps({"model": {"decoder": {"session_options": {
                "intra_op_num_threads": self.threads}}}}))
            model = og.Model(config)
        except Exception as exc:  # og raises RuntimeError for any load problem
            raise GenerationError(f"cannot load ONNX model {str(folder)!r}: {_short(exc)}") from exc
        self._genai_config = json.loads((folder / "genai_config.json").read_text(encoding="utf-8"))
        self._og = None  # the og.Generator holding the key/value cache, made on first use
        self._tokens: list[int] = []  # what that cache holds
        return model

    def _model_facts(self) -> tuple[Any, int | None, int]:
        m = self._genai_config["model"]
        return m.get("eos_token_id"), min(int(m.get("context_length", CONTEXT_TOKENS)), CONTEXT_TOKENS), \
            int(m["vocab_size"])

    # ---- the engine ----

    def _generator(self):
        import onnxruntime_genai as og

        if self._og is None:
            params = og.GeneratorParams(self.model)
            params.set_search_options(max_length=self._max_positions, batch_size=1)
            self._og, self._tokens = og.Generator(self.model, params), []
        return self._og

    def _resume(self, want: list[int], reuse: bool = True):
        """The generator rewound to the longest prefix its cache shares with ``want`` (short of the last token:
        one is always fed, for its logits), and the tokens of ``want`` still to feed."""
        keep = 0
        if reuse:
            limit = min(len(self._tokens), len(want) - 1)
            while keep < limit and self._tokens[keep] == want[keep]:
                keep += 1
        if keep < len(self._tokens):
            if keep == 0:
                self._og = None  # og cannot rewind to nothing: a fresh generator
            else:
                self._og.rewind_to(keep)
                self._tokens = self._tokens[:keep]
        return self._generator(), want[keep:]

    def _prefill(self, ids: list[int], user_start: int, cancel):
        """Rewind the cache to what it shares with ``ids``, then feed the rest in cancellable chunks."""
        g, rest = self._resume(ids, self.reuse_prefix_cache)
        while len(rest) > self.prefill_chunk_tokens:
            chunk, rest = rest[:self.prefill_chunk_tokens], rest[self.prefill_chunk_tokens:]
            self._append(g, chunk)
            _check_cancel(cancel)
        return self._feed(g, rest)

    def _append(self, g, tokens: list[int]) -> None:
        import numpy as np

        try:
            g.append_tokens(np.asarray(tokens, dtype=np.int32))
        except Exception:
            self._og, self._tokens = None, []  # a failed append leaves the cache unknown: start afresh
            raise
        self._tokens += tokens

    def _feed(self, g, tokens: list[int]):
        import numpy as np
        import torch

        self._append(g, tokens)
        return g, torch.from_numpy(np.array(g.get_logits(), dtype=np.float32)[0, -1])

    def _alternative_logprobs(self, prompt_len: int, prompt_state, alternatives: Sequence[str], cancel) -> list[float]:
        """Token by token from the prompt (og has no batched scoring over a shared cache); answers that share a
        beginning ("query ...", "reply ...") share its forward passes: about 12 for the 10 closed-set answers."""
        _, first = prompt_state
        prompt = self._tokens[:prompt_len]  # still the prompt: calls do not interleave (``generate``)
        seqs = [self.tokenizer.encode(alt, add_special_tokens=False) + [self._eot_id] for alt in alternatives]
        totals = [first[s[0]].item() for s in seqs]
        after: dict[tuple[int, ...], Any] = {}  # answer prefix -> log-probabilities of the next token
        with self._lock:
            for i, s in enumerate(seqs):
                for j in range(1, len(s)):
                    key = tuple(s[:j])
                    if key not in after:
                        _check_cancel(cancel)
                        g, rest = self._resume(prompt + list(key))
                        for t in rest:
                            _, logits = self._feed(g, [t])
                        after[key] = logits.float().log_softmax(-1)
                    totals[i] += after[key][s[j]].item()
        return totals

    def describe(self) -> dict:
        return {
            "backend": "onnx",
            "model": self.model_name,
            "precision": self.precision,
            "template": self.template,
            "end_of_turn": self.end_of_turn,
            "max_new_tokens": self.max_new_tokens,
            "do_sample": self.do_sample,
            "prefix_cache": self.reuse_prefix_cache,
            "context_tokens": self._max_positions,
            "threads": self.threads,
            "load_s": round(self.load_s, 3),
        }
