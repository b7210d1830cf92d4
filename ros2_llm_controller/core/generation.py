"""The generator interface the planner talks to, and a scripted implementation.

A generator turns a ``messages`` list into the assistant's text. The Hugging Face implementation
lives in ``hf_generator.py`` (imports torch lazily); the scripted one answers from a table or a
function and serves dry runs, tests and the benchmarks' control path.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Protocol, Sequence

from .normalise import normalise


def fold_shouting(messages: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    """The messages with user turns written all in capitals lowercased; everything else as given.

    A small model reads "GO 100 MILLIMETERS" worse than "go 100 millimeters": capitals split into
    rarer tokens. The shipped adapter saw shouted commands in training (5 % of the data) and still
    got 45 of the 53 all-caps test commands right, against 52 lowercased.
    """
    return [{**m, "content": m["content"].lower()} if m.get("role") == "user" and m.get("content", "").isupper()
            else dict(m) for m in messages]


class GenerationError(RuntimeError):
    """The model could not produce text (load failure, out of memory, ...)."""


class GenerationCancelled(GenerationError):
    """Generation was stopped early by a newer command or a stop."""


class PromptTooLong(GenerationError):
    """The command is longer, in tokens, than ``max_command_tokens``: rejected before any prefill."""


@dataclass(frozen=True)
class GenerationResult:
    text: str
    new_tokens: int = 0
    latency_s: float = 0.0
    first_token_s: float | None = None
    forced_tokens: int = 0  # tokens the grammar forced, fed without a decoding step of their own


class Generator(Protocol):
    def generate(self, messages: Sequence[Mapping[str, str]], cancel: threading.Event | None = None,
                 grammar: str | None = None) -> GenerationResult:
        """Text of the next assistant turn; raise GenerationCancelled if ``cancel`` gets set.

        ``grammar`` (a regex, see ``core.grammar``) constrains the answer where the backend can."""
        ...


def generator_from_config(cfg) -> "Generator":
    """The generator a ``ControllerConfig``'s ``backend`` names: ``transformers`` (the model in this
    process, ``hf_generator.HFGenerator``), ``onnx`` (ONNX Runtime GenAI in this process,
    ``ort_generator.OrtGenerator``) or ``openai`` (a server, ``openai_generator.OpenAIGenerator``).
    Heavy imports happen here, only for the backend asked for."""
    if cfg.backend == "openai":
        from .openai_generator import OpenAIGenerator

        return OpenAIGenerator.from_config(cfg)
    if cfg.backend == "onnx":
        from .ort_generator import OrtGenerator

        return OrtGenerator.from_config(cfg)
    from .hf_generator import HFGenerator

    return HFGenerator.from_config(cfg)


class ScriptedGenerator:
    """Answers with ``script[command]`` (the user text, both normalised), ``script(command)``, or ``fallback``.

    ``delay_s`` simulates model latency and honours ``cancel`` while it waits.
    """

    def __init__(self, script: Mapping[str, str] | Callable[[str], str] | None = None,
                 fallback: str = "reply I did not understand.", delay_s: float = 0.0):
        # Commands reach a generator normalised (core.normalise): so are the table's keys.
        self.script = script if callable(script) else {normalise(k): v for k, v in (script or {}).items()}
        self.fallback = fallback
        self.delay_s = delay_s
        self.calls: list[str] = []

    def generate(self, messages, cancel=None, grammar=None) -> GenerationResult:
        t0 = time.monotonic()
        user = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        self.calls.append(user)
        if self.delay_s and cancel is not None and cancel.wait(self.delay_s):
            raise GenerationCancelled("cancelled")
        if self.delay_s and cancel is None:
            time.sleep(self.delay_s)
        if callable(self.script):
            text = self.script(user)
        else:
            text = self.script.get(user, self.fallback)
        return GenerationResult(text, len(text.split()), time.monotonic() - t0)
