"""Command text -> safe action: stop words, generation, parsing, limits. Shared by node, CLI and evaluation.

``resolve(text, config)`` is the one parse-and-limit step (model text -> limited action);
``Planner.plan`` adds the pre-checks and the model in front of it. Every ``PlanResult`` carries a
``ResultKind``: callers (the node's state machine, the CLI's exit code) read the kind, never the
wording of ``error``.
"""

from __future__ import annotations

import enum
import threading
import time
from dataclasses import dataclass

from .actions import STOP, Action, ParseError, reject
from .config import ControllerConfig
from .generation import GenerationCancelled, GenerationError, Generator
from .limits import apply_limits
from .parser import parse_action
from .stop_words import is_stop_command


class ResultKind(str, enum.Enum):
    """What decided a result. ``REJECTED`` is a refusal by rule; the ``*_ERROR`` kinds are faults."""

    ACTION = "action"  # a move, stop or reply to carry out (possibly clamped: see PlanResult.limited)
    STOP_WORD = "stop_word"  # a stop word, decided without the model
    REJECTED = "rejected"  # empty, too long, not text, or over a limit under limit_policy=reject
    PARSE_ERROR = "parse_error"  # model text that is not an action
    GENERATION_ERROR = "generation_error"  # the model failed
    INTERNAL_ERROR = "internal_error"  # an exception in the controller itself
    UNAVAILABLE = "unavailable"  # no model loaded (still loading, or loading failed)

    @property
    def is_error(self) -> bool:
        return self in (ResultKind.PARSE_ERROR, ResultKind.GENERATION_ERROR, ResultKind.INTERNAL_ERROR,
                        ResultKind.UNAVAILABLE)


@dataclass(frozen=True)
class PlanResult:
    command: str
    model_output: str | None
    action: Action
    limited: bool = False
    error: str | None = None
    latency_s: float = 0.0
    kind: ResultKind = ResultKind.ACTION

    def to_dict(self) -> dict:
        return {"command": self.command, "model_output": self.model_output, "action": self.action.to_dict(),
                "limited": self.limited, "error": self.error, "latency_s": round(self.latency_s, 4),
                "kind": self.kind.value}

    @classmethod
    def failure(cls, kind: ResultKind, command: str, message: str, *, model_output: str | None = None,
                latency_s: float = 0.0) -> "PlanResult":
        """A result that must not move the robot: a reject action carrying ``message``."""
        return cls(command, model_output, reject(message), error=message, latency_s=latency_s, kind=kind)


def build_messages(command: str, system_prompt: str) -> list[dict]:
    msgs = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return msgs + [{"role": "user", "content": command}]


def precheck(command: str, config: ControllerConfig) -> PlanResult | None:
    """Decisions taken before the model runs: stop words and unusable commands.

    A command whose first character is NUL arrives empty (ROS strings end at ``\\x00``) and is
    rejected as empty.
    """
    if not isinstance(command, str):
        return PlanResult.failure(ResultKind.REJECTED, str(command), "command is not text")
    if is_stop_command(command[: config.max_command_chars * 4]):
        return PlanResult(command, None, STOP, kind=ResultKind.STOP_WORD)
    if not command.strip():
        return PlanResult.failure(ResultKind.REJECTED, command, "empty command")
    if len(command) > config.max_command_chars:
        msg = f"command too long ({len(command)} > {config.max_command_chars} characters)"
        return PlanResult.failure(ResultKind.REJECTED, command[:200], msg)
    return None


def resolve(text: str, config: ControllerConfig, command: str = "", t0: float | None = None) -> PlanResult:
    """Model text -> action after the safety limits: the node's, the CLI's and the evaluation's one path.

    ``command`` is recorded in the result; ``t0`` (``time.monotonic()`` when the command arrived)
    gives ``latency_s``.
    """
    def latency() -> float:
        return time.monotonic() - t0 if t0 is not None else 0.0

    try:
        action = parse_action(text, config.motion_defaults)
    except ParseError as exc:
        return PlanResult(command, text, reject(f"could not parse model output: {exc}"),
                          error=f"parse error: {exc}", latency_s=latency(), kind=ResultKind.PARSE_ERROR)
    limited = apply_limits(action, config.limits)
    if limited.action.type == "reject":
        return PlanResult(command, text, limited.action, limited.limited, f"safety limits: {limited.reason}",
                          latency(), ResultKind.REJECTED)
    return PlanResult(command, text, limited.action, limited.limited, None, latency())


class Planner:
    def __init__(self, generator: Generator | None, config: ControllerConfig | None = None):
        self.generator = generator
        self.config = config or ControllerConfig()

    def finish(self, command: str, text: str, t0: float) -> PlanResult:
        """Parse model text and apply the limits (``resolve`` with this planner's config)."""
        return resolve(text, self.config, command, t0)

    def plan(self, command: str, cancel: threading.Event | None = None) -> PlanResult:
        t0 = time.monotonic()
        early = precheck(command, self.config)
        if early is not None:
            return early
        if self.generator is None:
            return PlanResult.failure(ResultKind.UNAVAILABLE, command, "model not available: no generator")
        try:
            out = self.generator.generate(build_messages(command, self.config.system_prompt), cancel=cancel)
        except GenerationCancelled:
            raise
        except GenerationError as exc:
            return PlanResult(command, None, reject(f"generation failed: {exc}"), error=f"generation error: {exc}",
                              latency_s=time.monotonic() - t0, kind=ResultKind.GENERATION_ERROR)
        return resolve(out.text, self.config, command, t0)
