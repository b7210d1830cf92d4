"""Command text -> safe action: stop words, generation, parsing, limits. Shared by node and CLI."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from .actions import STOP, Action, ParseError, reject
from .config import ControllerConfig
from .generation import GenerationCancelled, GenerationError, Generator
from .limits import apply_limits
from .parser import parse_action
from .stop_words import is_stop_command


@dataclass(frozen=True)
class PlanResult:
    command: str
    model_output: str | None
    action: Action
    limited: bool = False
    error: str | None = None
    latency_s: float = 0.0

    def to_dict(self) -> dict:
        return {"command": self.command, "model_output": self.model_output, "action": self.action.to_dict(),
                "limited": self.limited, "error": self.error, "latency_s": round(self.latency_s, 4)}


def build_messages(command: str, system_prompt: str) -> list[dict]:
    msgs = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return msgs + [{"role": "user", "content": command}]


def precheck(command: str, config: ControllerConfig) -> PlanResult | None:
    """Decisions taken before the model runs: stop words and unusable commands."""
    if not isinstance(command, str):
        return PlanResult(str(command), None, reject("command is not text"), error="command is not text")
    if is_stop_command(command[: config.max_command_chars * 4]):
        return PlanResult(command, None, STOP)
    if not command.strip():
        return PlanResult(command, None, reject("empty command"), error="empty command")
    if len(command) > config.max_command_chars:
        msg = f"command too long ({len(command)} > {config.max_command_chars} characters)"
        return PlanResult(command[:200], None, reject(msg), error=msg)
    return None


class Planner:
    def __init__(self, generator: Generator, config: ControllerConfig | None = None):
        self.generator = generator
        self.config = config or ControllerConfig()

    def finish(self, command: str, text: str, t0: float) -> PlanResult:
        """Parse model text and apply the limits."""
        cfg = self.config
        try:
            action = parse_action(text, cfg.motion_defaults)
        except ParseError as exc:
            return PlanResult(command, text, reject(f"could not parse model output: {exc}"),
                              error=f"parse error: {exc}", latency_s=time.monotonic() - t0)
        limited = apply_limits(action, cfg.limits)
        error = f"safety limits: {limited.reason}" if limited.action.type == "reject" else None
        return PlanResult(command, text, limited.action, limited.limited, error, time.monotonic() - t0)

    def plan(self, command: str, cancel: threading.Event | None = None) -> PlanResult:
        t0 = time.monotonic()
        early = precheck(command, self.config)
        if early is not None:
            return early
        try:
            out = self.generator.generate(build_messages(command, self.config.system_prompt), cancel=cancel)
        except GenerationCancelled:
            raise
        except GenerationError as exc:
            return PlanResult(command, None, reject(f"generation failed: {exc}"), error=f"generation error: {exc}",
                              latency_s=time.monotonic() - t0)
        return self.finish(command, out.text, t0)
