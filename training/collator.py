"""Assistant-only loss: tokenise chats so that only assistant tokens carry labels (course exercise E32.1).

A conversation is rendered ONCE with ``core.chat_templates.render`` (ChatML, Llama 2, Llama 3 or the
tokenizer's own template, "auto"), which also returns the character span of every assistant turn,
end-of-turn marker included. The text is encoded with ``add_special_tokens=False`` (the named
templates already carry their BOS text) and ``return_offsets_mapping=True``; token ``i`` is an
assistant token iff its last character lies inside an assistant span (``start < end_i <= stop``).
Tokens that straddle the start of a span (Llama 2's ``" move"``, whose space belongs to the
template) are assistant tokens: the model has to produce them to produce the answer. Every other
position gets the label -100, so the loss covers the answers and their end-of-turn token (without
it the model never learns to stop) and nothing the user or the system wrote.

Tiny example (ChatML, one token per piece for readability)::

    tokens: <|im_start|> user \\n Hi <|im_end|> \\n <|im_start|> assistant \\n stop <|im_end|> \\n
    labels:  -100       -100 -100 -100  -100   -100   -100        -100    -100 stop <|im_end|> -100

Labels are NOT shifted: the model shifts them (position ``i`` predicts token ``i + 1``).

Truncation (``max_length``) keeps the start of the conversation. A conversation left with no
assistant token, by truncation or because it has no answer, raises ``NoAssistantTokensError``:
``tokenize_conversation`` and the collator raise, and ``tokenize_dataset`` drops such rows and
returns how many, so a dataset never trains silently on nothing.

Padding is on the right, to the longest sequence of the batch (``padding="max_length"`` exists for
the benchmark), with a pad token distinct from the end-of-turn token (see ``ensure_pad_token``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from ros2_llm_controller.core.chat_templates import (RenderedChat, encode_rendered, end_of_turn_for, get_template,
                                                     render)

IGNORE_INDEX = -100
PADDING_CHOICES = ("longest", "max_length")


class NoAssistantTokensError(ValueError):
    """A training example has no assistant token to learn from (no answer, or truncated away)."""


def tokenizer_adds_bos(tokenizer: Any) -> bool:
    """Whether ``tokenizer(text)`` would prepend BOS by itself (Llama 1/2 SentencePiece tokenizers do)."""
    bos = getattr(tokenizer, "bos_token_id", None)
    if bos is None:
        return False
    ids = tokenizer("a", add_special_tokens=True)["input_ids"]
    return bool(ids) and ids[0] == bos


def encode_chat(rendered: RenderedChat | str, tokenizer: Any,
                template: str = "auto") -> tuple[list[int], list[tuple[int, int]]]:
    """Token ids and character offsets of a rendered chat, with exactly one BOS where the model expects one.

    Special tokens are never added by the tokenizer: the named templates are complete, BOS text
    included (Llama 2's ``<s>``, Llama 3's ``<|begin_of_text|>``; ChatML has none). With the
    tokenizer's own template ("auto") BOS is prepended only when the tokenizer normally adds it and
    the text lacks it (TinyLlama's Zephyr template). Inference must encode prompts the same way.
    """
    if isinstance(rendered, str):
        rendered = RenderedChat(rendered)
    text = rendered.text
    ids, offsets, _ = encode_rendered(rendered, tokenizer)  # user text encoded as plain text
    bos = getattr(tokenizer, "bos_token", None)
    if get_template(template) is None and bos and not text.startswith(bos) and tokenizer_adds_bos(tokenizer):
        ids.insert(0, tokenizer.bos_token_id)
        offsets.insert(0, (0, 0))
    return ids, offsets


def assistant_mask(offsets: Sequence[tuple[int, int]], spans: Iterable[tuple[int, int]]) -> list[bool]:
    """True for tokens whose last character falls inside an assistant span ([start, stop) in characters)."""
    spans = sorted(spans)
    mask = []
    for start_tok, end_tok in offsets:
        inside = end_tok > start_tok and any(s < end_tok <= e for s, e in spans)
        mask.append(inside)
    return mask


def tokenize_conversation(messages: Sequence[Mapping[str, Any]], tokenizer: Any, template: str = "auto",
                          max_length: int | None = None) -> dict[str, list[int]]:
    """``{"input_ids", "labels"}`` for one conversation; labels are -100 outside assistant turns.

    Raises ``NoAssistantTokensError`` when no assistant token survives (truncation included) and
    ``core.chat_templates.ChatFormatError`` for a malformed conversation.
    """
    rendered = render(messages, template, tokenizer)
    ids, offsets = encode_chat(rendered, tokenizer, template)
    mask = assistant_mask(offsets, rendered.assistant_spans)
    if max_length is not None and len(ids) > max_length:
        ids, mask = ids[:max_length], mask[:max_length]
    if not any(mask):
        why = f" within max_length={max_length}" if rendered.assistant_spans else ""
        raise NoAssistantTokensError(f"conversation has no assistant token{why} ({len(rendered.text)} characters)")
    labels = [t if m else IGNORE_INDEX for t, m in zip(ids, mask)]
    return {"input_ids": ids, "labels": labels}


def tokenize_dataset(conversations: Sequence[Mapping[str, Any]], tokenizer: Any, template: str = "auto",
                     max_length: int | None = None) -> tuple[list[dict[str, Any]], list[Any]]:
    """Tokenise many conversations: (rows with id/input_ids/labels/length, ids of the rows dropped).

    A conversation left without assistant tokens is dropped, never trained on; the caller reports
    the count (``train_sft`` logs it and writes it to metrics.json).
    """
    rows, dropped = [], []
    for i, conv in enumerate(conversations):
        conv_id = conv.get("id", i)
        try:
            row = tokenize_conversation(conv["messages"], tokenizer, template, max_length)
        except NoAssistantTokensError:
            dropped.append(conv_id)
            continue
        rows.append({"id": conv_id, **row, "length": len(row["input_ids"])})
    return rows, dropped


def choose_pad_token(tokenizer: Any, end_of_turn: str) -> tuple[str, bool]:
    """Pick a pad token that is neither the end-of-turn nor the EOS token; (token, newly added).

    Padding is masked by ``attention_mask`` and by -100 labels, so the pad id's value never reaches
    the loss here. It must still differ from the end-of-turn token because much downstream code
    (other collators, generation with padded batches, tools reading a saved tokenizer) derives masks
    from ``input_ids == pad_token_id``, which would erase the stop token from the training signal
    or cut prompts short. Order of preference: the tokenizer's pad, its unk, a new ``<|pad|>``
    (which needs ``model.resize_token_embeddings``).
    """
    banned = {t for t in (end_of_turn, getattr(tokenizer, "eos_token", None)) if t}
    for candidate in (getattr(tokenizer, "pad_token", None), getattr(tokenizer, "unk_token", None)):
        if candidate and candidate not in banned:
            return candidate, False
    return "<|pad|>", True


def ensure_pad_token(tokenizer: Any, template: str = "auto") -> bool:
    """Set ``tokenizer.pad_token`` per ``choose_pad_token``; True if a token was added (resize the model)."""
    pad, added = choose_pad_token(tokenizer, end_of_turn_for(template, tokenizer))
    if added:
        tokenizer.add_special_tokens({"pad_token": pad})
    else:
        tokenizer.pad_token = pad
    return added


@dataclass
class AssistantOnlyCollator:
    """Batches chats for causal-LM SFT with loss on assistant tokens only.

    Features are either pre-tokenised (``input_ids`` + ``labels``, from ``tokenize_dataset``) or raw
    (``messages``, tokenised here). Returns ``input_ids``, ``attention_mask`` and ``labels`` tensors,
    right-padded to the longest row (or to ``max_length`` with ``padding="max_length"``), rounded up
    to ``pad_to_multiple_of``. Extra columns (``length``, ``id``...) are ignored.
    """

    tokenizer: Any
    template: str = "auto"
    max_length: int | None = None
    padding: str = "longest"
    pad_to_multiple_of: int | None = None

    def __post_init__(self) -> None:
        if self.padding not in PADDING_CHOICES:
            raise ValueError(f"padding={self.padding!r}: choose one of {PADDING_CHOICES}")
        if self.padding == "max_length" and not self.max_length:
            raise ValueError("padding='max_length' needs max_length")
        pad_id = getattr(self.tokenizer, "pad_token_id", None)
        stops = {end_of_turn_for(self.template, self.tokenizer), getattr(self.tokenizer, "eos_token", None)}
        if pad_id is None or self.tokenizer.pad_token in stops:
            raise ValueError(f"the tokenizer's pad token ({self.tokenizer.pad_token!r}) must be set and differ "
                             f"from the end-of-turn/EOS tokens {sorted(t for t in stops if t)}: "
                             "call ensure_pad_token(tokenizer, template) first")
        self.pad_token_id = pad_id

    def _row(self, feature: Mapping[str, Any]) -> tuple[list[int], list[int]]:
        if "input_ids" in feature:
            ids, labels = list(feature["input_ids"]), list(feature["labels"])
            if self.max_length is not None:
                ids, labels = ids[:self.max_length], labels[:self.max_length]
        else:
            row = tokenize_conversation(feature["messages"], self.tokenizer, self.template, self.max_length)
            ids, labels = row["input_ids"], row["labels"]
        if len(ids) != len(labels):
            raise ValueError(f"input_ids ({len(ids)}) and labels ({len(labels)}) differ in length")
        if all(label == IGNORE_INDEX for label in labels):
            raise NoAssistantTokensError(f"example {feature.get('id', '?')} has no assistant token to train on")
        return ids, labels

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        import torch

        rows = [self._row(f) for f in features]
        width = self.max_length if self.padding == "max_length" else max(len(ids) for ids, _ in rows)
        if self.pad_to_multiple_of:
            width = -(-width // self.pad_to_multiple_of) * self.pad_to_multiple_of
        input_ids = torch.full((len(rows), width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        for r, (ids, labs) in enumerate(rows):
            n = len(ids)
            input_ids[r, :n] = torch.tensor(ids, dtype=torch.long)
            labels[r, :n] = torch.tensor(labs, dtype=torch.long)
            attention[r, :n] = 1  # from lengths, never from ids == pad (a pad id may occur in real text)
        return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}
