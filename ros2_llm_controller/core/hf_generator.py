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

from .chat_templates import ChatFormatError, canonical_name, encode_rendered, end_of_turn_for, render
from .generation import GenerationCancelled, GenerationError, GenerationResult, PromptTooLong, fold_shouting
from .torch_setup import DTYPES, pick_device, pick_dtype  # noqa: F401 - DTYPES re-exported

_PREFIX_CACHE_SLOTS = 4  # system prompts whose prefix cache is kept (one in normal use)


class HFGenerator:
    """A causal LM from a local folder or Hugging Face id, optionally with a PEFT LoRA adapter."""

    scores_alternatives = True  # generate() takes ``alternatives`` (a server backend cannot score them)

    def __init__(self, model: str, adapter: str | None = None, chat_template: str = "auto", device: str = "auto",
                 dtype: str = "auto", max_new_tokens: int = 32, merge_adapter: bool = True, do_sample: bool = False,
                 temperature: float = 0.7, reuse_prefix_cache: bool = True, system_prompt: str | None = None,
                 max_command_tokens: int = 256, prefill_chunk_tokens: int = 32):
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
        self.max_command_tokens = int(max_command_tokens)  # 0 = no bound
        self.prefill_chunk_tokens = max(int(prefill_chunk_tokens), 1)
        self._ll_tokenizer = None  # llguidance's view of the tokenizer, built on the first grammar
        self.device = pick_device(device)
        self.dtype = pick_dtype(dtype, self.device)
        self._lock = threading.Lock()  # one generation at a time: the model and the caches are shared
        self._prefix_caches: OrderedDict[tuple[int, ...], Any] = OrderedDict()
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
                   system_prompt=cfg.system_prompt or None, max_command_tokens=cfg.max_command_tokens)

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
        self._eot_id = enc[0] if self.end_of_turn else tok.eos_token_id
        model_eos, self._max_positions, self._vocab_size = self._model_facts()
        for eos in (tok.eos_token_id, model_eos):
            if isinstance(eos, int):
                ids.add(eos)
            elif isinstance(eos, (list, tuple)):
                ids.update(int(e) for e in eos)
        self.stop_ids = frozenset(ids)

    def _model_facts(self) -> tuple[Any, int | None, int]:
        """(the model's eos id or ids, its positions, its vocabulary size incl. padding rows)."""
        return (getattr(self.model.generation_config, "eos_token_id", None),
                getattr(self.model.config, "max_position_embeddings", None),
                self.model.get_output_embeddings().weight.shape[0])

    # ---- generation ----

    def generate(self, messages: Sequence[Mapping[str, str]], cancel: threading.Event | None = None,
                 max_new_tokens: int | None = None, grammar: str | None = None,
                 alternatives: Sequence[str] | None = None) -> GenerationResult:
        """The next assistant turn for ``messages``; raises GenerationCancelled when ``cancel`` is set.

        ``grammar``: a regex the answer must match (``core.grammar``); every token outside it is
        masked (llguidance), and tokens the grammar forces are fed in one forward pass.
        ``alternatives``: a closed set of whole answers re-ranked by likelihood when the greedy answer
        is one of them (see ``_most_likely``).
        """
        import torch

        t0 = time.monotonic()
        limit = int(max_new_tokens or self.max_new_tokens)
        messages = fold_shouting(messages)
        ids, user_start = self.encode_prompt(messages)
        if self.max_command_tokens and len(ids) - user_start > self.max_command_tokens:
            raise PromptTooLong(f"command is {len(ids) - user_start} tokens long (limit "
                                f"{self.max_command_tokens})")
        if self._max_positions and len(ids) + limit > self._max_positions:
            raise GenerationError(f"prompt of {len(ids)} tokens + {limit} new tokens exceeds the model's "
                                  f"{self._max_positions} positions")
        matcher = self._matcher(grammar) if grammar else None
        with self._lock:
            _check_cancel(cancel)
            try:
                with torch.inference_mode():
                    new_ids, first_token_s, forced, prompt_state = self._decode(
                        ids, user_start, limit, cancel, t0, matcher, keep_prompt=bool(alternatives))
            except GenerationCancelled:
                raise
            except GenerationError:
                raise
            except Exception as exc:  # OOM, device errors, shape errors from a broken model
                raise GenerationError(f"generation failed: {type(exc).__name__}: {_short(exc)}") from exc
        text = self.tokenizer.decode(new_ids, skip_special_tokens=True).strip()
        if alternatives and text in alternatives:
            text = self._most_likely(len(ids), prompt_state, alternatives, cancel)
        return GenerationResult(text, len(new_ids), time.monotonic() - t0, first_token_s, forced)

    def _most_likely(self, prompt_len: int, prompt_state, alternatives: Sequence[str], cancel) -> str:
        """The most likely of ``alternatives`` as whole answers (sum of token log-probabilities).

        Greedy decoding decides on the first token: when "query" is split between four queries and
        "reply" goes to one reply, "reply unclear" can win although "query obstacles" is the likelier
        answer. For a greedy answer inside a small closed set (queries and replies: none moves the
        robot), the whole set is scored instead: the decode's own prompt cache and first-token
        log-probabilities are reused, and all alternatives go through one batched forward pass.
        """
        totals = self._alternative_logprobs(prompt_len, prompt_state, alternatives, cancel)
        return alternatives[max(range(len(totals)), key=totals.__getitem__)]

    def _alternative_logprobs(self, prompt_len: int, prompt_state, alternatives: Sequence[str], cancel) -> list[float]:
        """The log-probability of each alternative, end of turn included, after the prompt."""
        import torch

        cache, first = prompt_state
        seqs = [self.tokenizer.encode(alt, add_special_tokens=False) + [self._eot_id] for alt in alternatives]
        totals = [first[s[0]].item() for s in seqs]
        width = max(len(s) for s in seqs) - 1
        if width > 0:
            _check_cancel(cancel)
            extra = cache.get_seq_length() - prompt_len
            if extra > 0:
                cache.crop(-extra)  # back to the prompt: drop what the greedy decode appended
            cache.batch_repeat_interleave(len(seqs))
            # Right padding: causal attention keeps the pads from touching the positions that are read.
            feed = [s[:-1] + [self._eot_id] * (width - len(s) + 1) for s in seqs]
            with self._lock, torch.inference_mode():
                logits = self.model(input_ids=torch.tensor(feed, device=self.device), past_key_values=cache,
                                    use_cache=True).logits
            logp = logits.float().log_softmax(-1)
            for i, s in enumerate(seqs):
                totals[i] += sum(logp[i, j, t].item() for j, t in enumerate(s[1:]))
        return totals

    def encode_prompt(self, messages: Sequence[Mapping[str, str]]) -> tuple[list[int], int]:
        """Prompt token ids (user text as plain text, as in training) and where the last user turn starts."""
        try:
            rendered = render(messages, self.template, self.tokenizer, add_generation_prompt=True)
        except ChatFormatError as exc:
            raise GenerationError(f"cannot render the prompt: {exc}") from exc
        ids, _, user_starts = encode_rendered(rendered, self.tokenizer)
        return ids, (user_starts[-1] if user_starts else 0)

    def _ll(self):
        """The tokenizer as llguidance sees it (about 1 s to build: done by ``warmup``)."""
        if self._ll_tokenizer is None:
            import llguidance.hf

            self._ll_tokenizer = llguidance.hf.from_tokenizer(self.tokenizer, n_vocab=self._vocab_size,
                                                             eos_token=self._eot_id)
        return self._ll_tokenizer

    def _matcher(self, grammar: str):
        """An llguidance matcher for ``grammar`` (a regex), built per command (about 2 ms)."""
        import llguidance

        self._ll()
        matcher = llguidance.LLMatcher(self._ll_tokenizer, llguidance.LLMatcher.grammar_from_regex(grammar),
                                       log_level=0)
        if matcher.is_error():
            raise GenerationError(f"invalid grammar: {matcher.get_error()}")
        return matcher

    def _decode(self, ids: list[int], user_start: int, limit: int, cancel, t0: float, matcher=None,
                keep_prompt: bool = False):
        """Prefill (``_prefill``: from the cached prefix, in cancellable chunks), then decode; with a matcher,
        mask the logits and feed forced tokens together (jump-forward). The engine is behind ``_prefill`` and
        ``_feed`` (torch here, ONNX Runtime in ``ort_generator``); this loop is the same for both.

        Returns (new ids, first-token time, forced tokens, prompt state); the prompt state, with
        ``keep_prompt``, is (the engine's state after the prompt, the first token's unmasked
        log-probabilities) for ``_most_likely``."""
        state, logits = self._prefill(ids, user_start, cancel)
        out_ids: list[int] = []
        first_token_s, forced = 0.0, 0
        bitmask, prompt_state = None, None
        if matcher is not None:
            import llguidance.numpy as lln

            bitmask = lln.allocate_token_bitmask(1, self._ll_tokenizer.vocab_size)
        if keep_prompt:
            prompt_state = (state, logits.float().log_softmax(-1))
        while len(out_ids) < limit:
            if matcher is not None:
                lln.fill_next_token_bitmask(matcher, bitmask, 0)
                logits = masked_logits(logits[: self._ll_tokenizer.vocab_size], bitmask[0])
            next_id = self._pick(logits)
            if not out_ids:
                first_token_s = time.monotonic() - t0
            _check_cancel(cancel)
            if next_id in self.stop_ids:
                break
            out_ids.append(next_id)
            step = [next_id]
            if matcher is not None:
                if not matcher.consume_token(next_id):
                    raise GenerationError(f"grammar rejected token {next_id}: {matcher.get_error()}")
                if matcher.is_stopped():
                    break
                ff = list(matcher.compute_ff_tokens())[: max(limit - len(out_ids), 0)]
                if ff and matcher.consume_tokens(ff):  # True when all were taken
                    out_ids += ff
                    step += ff
                    forced += len(ff)
                    if matcher.is_stopped():
                        break
            state, logits = self._feed(state, step)
        return out_ids, first_token_s, forced, prompt_state

    def _prefill(self, ids: list[int], user_start: int, cancel):
        """(engine state, next-token logits) after ``ids``: the cached prefix, then the rest in chunks."""
        import torch

        cache, start = self._cache_for(ids, user_start)
        # Prefill what the cache does not hold in chunks: cancel is checked between them, so a long
        # command cannot hold the model for seconds after a newer one arrived.
        rest = ids[start:]
        while len(rest) > self.prefill_chunk_tokens:
            chunk, rest = rest[:self.prefill_chunk_tokens], rest[self.prefill_chunk_tokens:]
            cache = self.model(input_ids=torch.tensor([chunk], device=self.device), past_key_values=cache,
                               use_cache=True, logits_to_keep=1).past_key_values
            _check_cancel(cancel)
        return self._feed(cache, rest)

    def _feed(self, cache, tokens: list[int]):
        """Run ``tokens`` through the model after ``cache``: (the cache, the last position's logits)."""
        import torch

        out = self.model(input_ids=torch.tensor([tokens], device=self.device), past_key_values=cache,
                         use_cache=True, logits_to_keep=1)
        return out.past_key_values, out.logits[0, -1]

    def _pick(self, logits) -> int:
        import torch

        if not self.do_sample:
            return int(torch.argmax(logits))
        probs = torch.softmax(logits.float() / self.temperature, dim=-1)
        return int(torch.multinomial(probs, 1))

    # ---- prefix cache ----

    def _cache_for(self, ids: list[int], user_start: int):
        """A fresh cache holding ``ids[:user_start]`` (system prompt and history), and its length.

        The prefix is encoded apart from the user's text (``encode_rendered``), so its tokens never
        depend on what the user typed and the cache always applies.
        """
        if not self.reuse_prefix_cache or user_start <= 0:
            return None, 0
        key = tuple(ids[:user_start])
        cache = self._prefix_caches.get(key)
        if cache is None:
            import torch

            cache = self.model(input_ids=torch.tensor([list(key)], device=self.device), use_cache=True,
                               logits_to_keep=1).past_key_values
            self._prefix_caches[key] = cache
            while len(self._prefix_caches) > _PREFIX_CACHE_SLOTS:
                self._prefix_caches.popitem(last=False)
        else:
            self._prefix_caches.move_to_end(key)
        return copy.deepcopy(cache), user_start

    # ---- helpers for the node and the benchmarks ----

    def warmup(self, command: str = "stop") -> GenerationResult:
        """One short constrained generation: builds the prefix cache and llguidance's tokenizer, and
        wakes up the kernels."""
        msgs = ([{"role": "system", "content": self.system_prompt}] if self.system_prompt else [])
        return self.generate(msgs + [{"role": "user", "content": command}], max_new_tokens=2,
                             grammar="(?:stop|query battery)")

    def prompt_tokens(self, messages: Sequence[Mapping[str, str]]) -> int:
        return len(self.encode_prompt(messages)[0])

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


def allowed_tokens(bitmask_row):
    """The token bitmask of llguidance (int32 words, bit i of word w = token 32 w + i) as one bool per token."""
    import numpy as np

    return np.unpackbits(np.ascontiguousarray(bitmask_row).view(np.uint8), bitorder="little").astype(bool)


def masked_logits(logits, bitmask_row):
    """``logits`` (float) with every token the grammar forbids at -inf.

    Written here because llguidance's torch helper runs a torch.compile'd kernel that cost about 10 ms a
    token on this 2-core CPU (a fifth of a decoding step); unpacking the bits with numpy costs about 0.1 ms.
    """
    import torch

    allowed = torch.from_numpy(allowed_tokens(bitmask_row)[: logits.shape[0]])
    return logits.float().masked_fill(~allowed, float("-inf"))


def _check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise GenerationCancelled("generation cancelled")


def _short(exc: BaseException, limit: int = 400) -> str:
    text = str(exc).strip().replace("\n", " ")
    return text if len(text) <= limit else text[:limit] + "..."
