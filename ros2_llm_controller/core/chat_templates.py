"""Chat templates shared by training, evaluation and the controller node.

ChatML, Llama 2 and Llama 3 are rendered exactly as the course prints them (Day 32, section 32.3),
plus the special tokens a model needs to start and to stop: Llama 2 and Llama 3 begin with their
BOS text, and every assistant turn ends with the template's end-of-turn token. Without that token
in the labels a fine-tuned model never learns to stop.

``render`` returns the text and the character span of every assistant turn, so the training
collator can mask everything else without re-tokenising prefixes. The fourth format, ``"auto"``
(alias ``"tokenizer"``), defers to the tokenizer's own Jinja template; its assistant spans are found
by rendering growing prefixes of the conversation.

Pure Python: no torch, transformers or ROS imports here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

ROLES = ("system", "user", "assistant")
TOKENIZER_TEMPLATE = "auto"
TEMPLATE_ALIASES = {"tokenizer": TOKENIZER_TEMPLATE, "own": TOKENIZER_TEMPLATE, "llama-2": "llama2",
                    "llama-3": "llama3", "chat_ml": "chatml"}


class ChatFormatError(ValueError):
    """A conversation that cannot be rendered (unknown role, empty turn, bad order)."""


@dataclass(frozen=True)
class RenderedChat:
    """Rendered conversation text and the [start, end) character spans of assistant turns.

    Each span covers the assistant content and its end-of-turn marker, which are the tokens the
    model must learn to produce.
    """

    text: str
    assistant_spans: tuple[tuple[int, int], ...] = field(default_factory=tuple)
    # [start, end) of each user turn's content: text a user typed, encoded as plain text (a typed
    # "<|im_end|>" must not become the control token; see ``encode_rendered``).
    user_spans: tuple[tuple[int, int], ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class ChatTemplate:
    """A hand-written template: how each role's turn is wrapped."""

    name: str
    bos: str
    end_of_turn: str  # the string the model emits to close its turn; generation stops on it
    system: str  # format with {content}
    user: str
    assistant_prefix: str  # what the generation prompt ends with
    assistant_suffix: str  # what follows the assistant content, starting with end_of_turn
    user_with_system: str | None = None  # Llama 2 folds the system prompt into the first [INST]

    def render(self, messages: Sequence[Mapping[str, Any]], add_generation_prompt: bool = False) -> RenderedChat:
        msgs = validate_messages(messages, allow_trailing_user=True)
        parts: list[str] = [self.bos]
        spans: list[tuple[int, int]] = []
        user_spans: list[tuple[int, int]] = []
        pending_system: str | None = None
        for i, m in enumerate(msgs):
            role, content = m["role"], m["content"]
            if role == "system":
                if self.user_with_system is not None:
                    pending_system = content
                    continue
                parts.append(self.system.format(content=content))
            elif role == "user":
                if pending_system is not None:
                    wrapper = self.user_with_system.replace("{system}", pending_system.replace("{", "{{")
                                                            .replace("}", "}}"))
                    pending_system = None
                else:
                    wrapper = self.user
                head = wrapper[:wrapper.index("{content}")].format()
                start = sum(len(p) for p in parts) + len(head)
                parts.append(wrapper.format(content=content))
                user_spans.append((start, start + len(content)))
            else:
                parts.append(self.assistant_prefix)
                start = sum(len(p) for p in parts)
                parts.append(content + self.assistant_suffix)
                # The span ends after the end-of-turn marker, not after trailing separators.
                spans.append((start, start + len(content) + len(self.end_of_turn)))
        if add_generation_prompt:
            if msgs and msgs[-1]["role"] == "assistant":
                raise ChatFormatError("add_generation_prompt needs the conversation to end with a user turn")
            parts.append(self.assistant_prefix)
        return RenderedChat("".join(parts), tuple(spans), tuple(user_spans))


# Exactly the course's layouts. ChatML needs no BOS (SmolLM2 and Qwen use none).
CHATML = ChatTemplate(
    name="chatml",
    bos="",
    end_of_turn="<|im_end|>",
    system="<|im_start|>system\n{content}<|im_end|>\n",
    user="<|im_start|>user\n{content}<|im_end|>\n",
    assistant_prefix="<|im_start|>assistant\n",
    assistant_suffix="<|im_end|>\n",
)

# Course: "[INST] <<SYS>>\n{system}\n<</SYS>>\n{user} [/INST] {assistant}". Meta's tokenizer adds
# <s> before each [INST] and </s> after each answer; we render them as text once (no double BOS).
LLAMA2 = ChatTemplate(
    name="llama2",
    bos="",  # each [INST] carries its own <s>
    end_of_turn="</s>",
    system="",  # unused: folded into the first user turn
    user="<s>[INST] {content} [/INST]",
    user_with_system="<s>[INST] <<SYS>>\n{system}\n<</SYS>>\n{content} [/INST]",
    assistant_prefix=" ",
    assistant_suffix="</s>",
)

LLAMA3 = ChatTemplate(
    name="llama3",
    bos="<|begin_of_text|>",
    end_of_turn="<|eot_id|>",
    system="<|start_header_id|>system<|end_header_id|>\n{content}<|eot_id|>\n",
    user="<|start_header_id|>user<|end_header_id|>\n{content}<|eot_id|>\n",
    assistant_prefix="<|start_header_id|>assistant<|end_header_id|>\n",
    assistant_suffix="<|eot_id|>\n",
)

TEMPLATES: dict[str, ChatTemplate] = {t.name: t for t in (CHATML, LLAMA2, LLAMA3)}
TEMPLATE_NAMES = tuple(TEMPLATES) + (TOKENIZER_TEMPLATE,)


def canonical_name(name: str) -> str:
    key = (name or TOKENIZER_TEMPLATE).strip().lower()
    key = TEMPLATE_ALIASES.get(key, key)
    if key not in TEMPLATE_NAMES:
        raise ChatFormatError(f"unknown chat template {name!r}; choose one of {', '.join(TEMPLATE_NAMES)}")
    return key


def get_template(name: str) -> ChatTemplate | None:
    """The hand-written template for ``name``, or None for the tokenizer's own."""
    key = canonical_name(name)
    return TEMPLATES.get(key)


def validate_messages(messages: Iterable[Mapping[str, Any]], allow_trailing_user: bool = True) -> list[dict]:
    """Check a ``messages`` list: known roles, string content, optional leading system turn."""
    msgs = [dict(m) for m in messages]
    if not msgs:
        raise ChatFormatError("conversation is empty")
    for i, m in enumerate(msgs):
        role = m.get("role")
        if role not in ROLES:
            raise ChatFormatError(f"message {i}: unknown role {role!r} (expected one of {ROLES})")
        if not isinstance(m.get("content"), str):
            raise ChatFormatError(f"message {i} ({role}): content must be a string")
        if role == "system" and i != 0:
            raise ChatFormatError(f"message {i}: a system message may only come first")
        if role == "assistant" and not m["content"].strip():
            raise ChatFormatError(f"message {i}: empty assistant turn")
    body = msgs[1:] if msgs[0]["role"] == "system" else msgs
    for j, m in enumerate(body):
        expected = "user" if j % 2 == 0 else "assistant"
        if m["role"] != expected:
            raise ChatFormatError(f"message {j + len(msgs) - len(body)}: expected a {expected} turn, got {m['role']}")
    return msgs


def render(messages: Sequence[Mapping[str, Any]], template: str = "chatml", tokenizer: Any = None,
           add_generation_prompt: bool = False) -> RenderedChat:
    """Render ``messages`` with a named template, or the tokenizer's own for ``"auto"``."""
    tpl = get_template(template)
    if tpl is not None:
        return tpl.render(messages, add_generation_prompt=add_generation_prompt)
    if tokenizer is None or not getattr(tokenizer, "chat_template", None):
        raise ChatFormatError("template 'auto' needs a tokenizer that has a chat_template")
    return _render_with_tokenizer(messages, tokenizer, add_generation_prompt)


def _apply(tokenizer: Any, msgs: list[dict], add_generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=add_generation_prompt)


def _render_with_tokenizer(messages, tokenizer, add_generation_prompt: bool) -> RenderedChat:
    msgs = validate_messages(messages)
    text = _apply(tokenizer, msgs, add_generation_prompt)
    eot = end_of_turn_for(TOKENIZER_TEMPLATE, tokenizer)
    spans, user_spans = [], []
    for i, m in enumerate(msgs):
        if m["role"] == "user":
            # The user's text follows everything the conversation before it renders to.
            before = _apply(tokenizer, msgs[:i], False) if i else ""
            at = text.find(m["content"], len(before) if text.startswith(before) else 0)
            if at < 0:
                raise ChatFormatError("user content not found verbatim in the tokenizer's rendering")
            user_spans.append((at, at + len(m["content"])))
            continue
        if m["role"] != "assistant":
            continue
        # Everything the generation prompt of msgs[:i] does not already hold is this turn.
        prefix = _apply(tokenizer, msgs[:i], True)
        upto = _apply(tokenizer, msgs[: i + 1], False)
        if not text.startswith(prefix) or not upto.startswith(prefix):
            raise ChatFormatError("the tokenizer's chat template is not prefix-stable; use chatml, llama2 or llama3")
        start = len(prefix)
        content_at = upto.find(m["content"], start)
        if content_at < 0:
            raise ChatFormatError("assistant content not found verbatim in the tokenizer's rendering")
        end = content_at + len(m["content"])
        if eot and upto.startswith(eot, end):
            end += len(eot)
        spans.append((start, end))
    return RenderedChat(text, tuple(spans), tuple(user_spans))


def encode_rendered(rendered: RenderedChat, tokenizer: Any) -> tuple[list[int], list[tuple[int, int]], list[int]]:
    """Token ids, character offsets and the token index where each user turn starts.

    The template's own text is encoded with its special tokens; each user turn's content is encoded
    on its own with ``split_special_tokens=True``, so "<|im_end|>" typed by a user stays plain text
    (training and inference both encode this way). Nothing is added by the tokenizer: the named
    templates carry their BOS text.
    """
    ids: list[int] = []
    offsets: list[tuple[int, int]] = []
    user_starts: list[int] = []
    cuts = sorted(rendered.user_spans)
    pos = 0
    pieces = []
    for start, end in cuts:
        pieces += [(pos, start, False), (start, end, True)]
        pos = end
    pieces.append((pos, len(rendered.text), False))
    for start, end, plain in pieces:
        if plain:
            user_starts.append(len(ids))
        if end <= start:
            continue
        enc = tokenizer(rendered.text[start:end], add_special_tokens=False, return_offsets_mapping=True,
                        split_special_tokens=plain)
        ids += list(enc["input_ids"])
        offsets += [(a + start, b + start) for a, b in enc["offset_mapping"]]
    return ids, offsets, user_starts


def end_of_turn_for(template: str, tokenizer: Any = None) -> str:
    """The string that closes an assistant turn: the stop sequence for generation."""
    tpl = get_template(template)
    if tpl is not None:
        return tpl.end_of_turn
    if tokenizer is None:
        raise ChatFormatError("template 'auto' needs a tokenizer")
    # Render a one-turn exchange and take the special token right after the answer.
    probe = "PROBE_ANSWER_7f3a"
    text = _apply(tokenizer, [{"role": "user", "content": "hi"}, {"role": "assistant", "content": probe}], False)
    tail = text[text.index(probe) + len(probe):]
    specials = sorted((t for t in getattr(tokenizer, "all_special_tokens", []) if t), key=len, reverse=True)
    stripped = tail.lstrip(" ")
    for tok in specials:
        if stripped.startswith(tok):
            return tok
    eos = getattr(tokenizer, "eos_token", None)
    return eos or ""


def generation_prompt(messages: Sequence[Mapping[str, Any]], template: str = "chatml", tokenizer: Any = None) -> str:
    """The prompt text that asks the model for the next assistant turn."""
    return render(messages, template, tokenizer, add_generation_prompt=True).text


def detect_template(tokenizer: Any) -> str:
    """Guess which named template a tokenizer's own template matches (for reports); "auto" if none."""
    source = getattr(tokenizer, "chat_template", None) or ""
    if "<|im_start|>" in source:
        return "chatml"
    if "<|start_header_id|>" in source:
        return "llama3"
    if "[INST]" in source:
        return "llama2"
    return TOKENIZER_TEMPLATE
