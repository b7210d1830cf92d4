"""Command text -> safe action: stop words, generation, parsing, limits. Shared by node, CLI and evaluation.

``resolve(text, config)`` is the one parse-and-limit step (model text -> limited action);
``Planner.plan`` adds the pre-checks and the model in front of it. Every ``PlanResult`` carries a
``ResultKind``: callers (the node's state machine, the CLI's exit code) read the kind, never the
wording of ``error``.
"""

from __future__ import annotations

import enum
import re
import threading
import time
from dataclasses import dataclass, replace

from .actions import STOP, Action, ParseError, reject
from .config import ControllerConfig
from .generation import GenerationCancelled, GenerationError, Generator, PromptTooLong
from .grammar import regex_for_command
from .language import Memory, Query, Reason
from .limits import apply_limits
from .memory import PlanMemory
from .normalise import has_non_finite, normalise
from .parser import Answer, AnswerKind, parse_answer
from .places import Places
from .stop_words import STOP_PHRASES, is_stop_command

_STOP_PHRASE = re.compile(r"(?<![\w-])(?:" + "|".join(re.escape(p).replace(r"\ ", r"\s+")
                                                     for p in sorted(STOP_PHRASES, key=len, reverse=True))
                          + r")(?:s|ped|ping)?(?![\w-])")
# Chat-template control strings and role markers: no user types them to drive a robot. They are encoded as
# plain text anyway (``chat_templates.encode_rendered``); a command carrying them is refused outright.
_MARKUP = re.compile(r"<\|[\w-]{1,40}\|>|\[/?inst\]|<</?sys>>|</?s>|^\s*#{2,}\s*(?:assistant|system|user)\b"
                     r"|(?:^|\n)\s*(?:assistant|system)\s*:", re.I | re.M)
# Words that may stand around a bare stop: "robot, stop right now please!", "emergency stop".
_STOP_FILLER = re.compile(r"\b(?:please|now|right|immediately|at once|robot|hey|ok|okay|the|motion|motors?|all|"
                          r"everything|emergency|quick|quickly|asap|instantly|just|you|it|there|that|moving|wait|"
                          r"oh|no|whoa|sir|buddy|guys?)\b")


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
    actions: tuple[Action, ...] = ()  # a plan: every step in order (``action`` is the first)
    refers_to: int | None = None  # "again"/"undo"/"continue": the turn whose plan this repeats
    turn: int | None = None  # this command's turn in the planner's memory
    reason: Reason | None = None  # why a reply carries no motion

    @property
    def steps(self) -> tuple[Action, ...]:
        return self.actions or (self.action,)

    def to_dict(self) -> dict:
        return {"command": self.command, "model_output": self.model_output, "action": self.action.to_dict(),
                "actions": [a.to_dict() for a in self.steps], "limited": self.limited, "error": self.error,
                "latency_s": round(self.latency_s, 4), "kind": self.kind.value, "refers_to": self.refers_to,
                "turn": self.turn, "reason": self.reason.value if self.reason else None}

    @classmethod
    def failure(cls, kind: ResultKind, command: str, message: str, *, model_output: str | None = None,
                latency_s: float = 0.0) -> "PlanResult":
        """A result that must not move the robot: a reject action carrying ``message``."""
        return cls(command, model_output, reject(message), error=message, latency_s=latency_s, kind=kind)


def build_messages(command: str, system_prompt: str) -> list[dict]:
    msgs = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return msgs + [{"role": "user", "content": command}]


def precheck(command: str, config: ControllerConfig) -> PlanResult | None:
    """Decisions taken before the model runs: a bare stop, and unusable commands.

    A command whose first character is NUL arrives empty (ROS strings end at ``\\x00``) and is
    rejected as empty.
    """
    if not isinstance(command, str):
        return PlanResult.failure(ResultKind.REJECTED, str(command), "command is not text")
    has_stop, only_stop = split_stop(command[: config.max_command_chars * 4])
    if only_stop:  # "stop", "halt now!": no model. "back up 2 m and stop" goes on (the node zeroes at once)
        return PlanResult(command, None, STOP, kind=ResultKind.STOP_WORD)
    if not command.strip():
        return PlanResult.failure(ResultKind.REJECTED, command, "empty command")
    if _MARKUP.search(command):
        return PlanResult.failure(ResultKind.REJECTED, command[:200], "the command contains chat-template or role "
                                  "markup (an injection attempt?): not obeyed")
    if len(command) > config.max_command_chars:
        msg = f"command too long ({len(command)} > {config.max_command_chars} characters)"
        return PlanResult.failure(ResultKind.REJECTED, command[:200], msg)
    return None


# The answers that never move the robot and are re-ranked as whole answers (HFGenerator._most_likely).
NO_MOTION_ANSWERS = tuple(f"query {q.value}" for q in Query) + tuple(f"reply {r.value}" for r in Reason)

# A requested motion beyond this many times what one motion may take at the speed limits is absurd
# ("drive 1e9 meters"): refused, not clamped to a 30 s drive in the right direction.
ABSURD_FACTOR = 100.0


def _absurd(action: Action, config: ControllerConfig) -> bool:
    lim = config.limits
    need_s = max(abs(action.distance_m or 0.0) / lim.max_linear_mps, abs(action.angle_rad or 0.0) / lim.max_angular_rps,
                 action.duration_s if action.distance_m is None and action.angle_rad is None else 0.0)
    return need_s > ABSURD_FACTOR * lim.max_duration_s


def _memory_steps(answer: Answer, memory: PlanMemory | None, command: str, text: str
                  ) -> tuple[tuple[Action, ...], int] | PlanResult:
    """The steps "again" / "undo" / "continue" stand for, and the turn they refer to."""
    last = memory.last_plan() if memory is not None else None
    if answer.memory is Memory.CONTINUE and memory is not None and memory.remaining() is not None:
        turn, steps = memory.remaining()
        return steps, turn
    if last is None:
        return PlanResult.failure(ResultKind.REJECTED, command, f"nothing to {answer.memory.value}: no earlier plan",
                                  model_output=text)
    if answer.memory is Memory.AGAIN:
        return last.steps * answer.count, last.index
    if answer.memory is Memory.CONTINUE:  # the last plan ran to its end: its last step once more
        return (last.steps[-1],), last.index
    if any(s.type == "goto" for s in last.steps):
        return PlanResult.failure(ResultKind.REJECTED, command, "cannot undo a trip to a place: say where to go",
                                  model_output=text)
    return tuple(s.reversed() for s in reversed(last.steps)), last.index


def resolve(text: str, config: ControllerConfig, command: str = "", t0: float | None = None,
            memory: PlanMemory | None = None, places: Places | None = None) -> PlanResult:
    """Model text -> what the robot does, after the safety limits: the node's, the CLI's and the
    evaluation's one path.

    A plan's steps are limited one by one; the plan as a whole must keep within ``max_plan_steps``
    and ``max_plan_duration_s``. "go to" words are resolved against ``places``; "again", "undo"
    and "continue" against ``memory``. ``command`` is recorded in the result; ``t0``
    (``time.monotonic()`` when the command arrived) gives ``latency_s``.
    """
    def latency() -> float:
        return time.monotonic() - t0 if t0 is not None else 0.0

    def refuse(kind: ResultKind, message: str) -> PlanResult:
        return PlanResult.failure(kind, command, message, model_output=text, latency_s=latency())

    try:
        answer = parse_answer(text, config.motion_defaults)
    except ParseError as exc:
        return PlanResult(command, text, reject(f"could not parse model output: {exc}"),
                          error=f"parse error: {exc}", latency_s=latency(), kind=ResultKind.PARSE_ERROR)
    if answer.kind is AnswerKind.STOP:
        return PlanResult(command, text, STOP, latency_s=latency())
    if answer.kind is AnswerKind.QUERY:
        return PlanResult(command, text, Action("reply", query=answer.query.value), latency_s=latency())
    if answer.kind is AnswerKind.REPLY:
        return PlanResult(command, text, Action("reply", reply=answer.reply), latency_s=latency(),
                          reason=answer.reason)
    refers_to = None
    if answer.kind is AnswerKind.MEMORY:
        found = _memory_steps(answer, memory, command, text)
        if isinstance(found, PlanResult):
            return found
        raw_steps, refers_to = found
    else:
        raw_steps = answer.steps
    steps: list[Action] = []
    limited_any = False
    for step in raw_steps:
        if step.type == "goto":
            place = places.resolve(step.place) if places is not None else None
            if place is None:
                known = places.unknown_reply(step.place) if places is not None else "No places are configured."
                return refuse(ResultKind.REJECTED, known)
            steps.append(step.with_(place=place.name))
            continue
        if step.type == "wait":
            steps.append(step)
            continue
        if not step.is_finite() or _absurd(step, config):
            return refuse(ResultKind.REJECTED, "absurd or non-finite quantity: not a motion")
        limited = apply_limits(step, config.limits)
        if limited.action.type == "reject":
            return replace(refuse(ResultKind.REJECTED, f"safety limits: {limited.reason}"), limited=True)
        limited_any |= limited.limited
        if limited.action.moves:
            steps.append(limited.action)
    if not steps:
        return PlanResult(command, text, STOP, latency_s=latency())
    if len(steps) > config.max_plan_steps:
        return refuse(ResultKind.REJECTED, f"plan has {len(steps)} steps (max_plan_steps {config.max_plan_steps})")
    total_s = sum(s.duration_s for s in steps if s.type != "goto")
    if total_s > config.max_plan_duration_s:
        return refuse(ResultKind.REJECTED, f"plan takes {total_s:.0f} s (max_plan_duration_s "
                                           f"{config.max_plan_duration_s:g})")
    return PlanResult(command, text, steps[0], limited_any, None, latency(), actions=tuple(steps),
                      refers_to=refers_to)


def _default_places(config: ControllerConfig) -> Places | None:
    from .config import load_places
    from .places import PlacesError

    try:
        return load_places(config)
    except PlacesError:
        return None  # "go to" then gets "No places are configured"; the node reports a bad file at start-up


def split_stop(command: str) -> tuple[bool, bool]:
    """(has a stop word, is only a stop): "stop" and "halt now!" are only a stop; "back up 2 m and
    stop" has one but asks for more, so the node stops at once and then plans the rest."""
    if not is_stop_command(command):
        return False, False
    rest = _STOP_FILLER.sub(" ", _STOP_PHRASE.sub(" ", normalise(command)))
    return True, not re.sub(r"[\W_]+", "", rest)


class Planner:
    """Command -> PlanResult: pre-checks, the normaliser, the grammar-constrained model, ``resolve``.

    ``memory`` keeps the turns that parsed (context for the model, and again/undo/continue);
    ``places`` resolves "go to" words.
    """

    def __init__(self, generator: Generator | None, config: ControllerConfig | None = None,
                 places: Places | None = None, memory: PlanMemory | None = None):
        self.generator = generator
        self.config = config or ControllerConfig()
        # Places: the given ones, else those of config.places_file (the package's own by default).
        self.places = places if places is not None else _default_places(self.config)
        self.memory = memory if memory is not None else PlanMemory()

    def finish(self, command: str, text: str, t0: float) -> PlanResult:
        """Parse model text and apply the limits (``resolve`` with this planner's config and memory)."""
        return resolve(text, self.config, command, t0, self.memory, self.places)

    def messages(self, normalised: str) -> list[dict]:
        cfg = self.config
        msgs = [{"role": "system", "content": cfg.system_prompt}] if cfg.system_prompt else []
        return msgs + self.memory.history(cfg.history_turns) + [{"role": "user", "content": normalised}]

    def plan(self, command: str, cancel: threading.Event | None = None) -> PlanResult:
        t0 = time.monotonic()
        early = precheck(command, self.config)
        if early is not None:
            return early
        if self.generator is None:
            return PlanResult.failure(ResultKind.UNAVAILABLE, command, "model not available: no generator")
        normalised = normalise(command)
        if has_non_finite(normalised):
            return PlanResult.failure(ResultKind.REJECTED, command, "the command gives a non-finite number (NaN, "
                                      "infinity or an exponent): not a motion", latency_s=time.monotonic() - t0)
        grammar = regex_for_command(command) if self.config.constrained_decoding else None
        extra = {"alternatives": NO_MOTION_ANSWERS} if grammar and getattr(self.generator, "scores_alternatives",
                                                                            False) else {}
        try:
            out = self.generator.generate(self.messages(normalised), cancel=cancel, grammar=grammar, **extra)
        except GenerationCancelled:
            raise
        except PromptTooLong as exc:
            return PlanResult.failure(ResultKind.REJECTED, command, str(exc), latency_s=time.monotonic() - t0)
        except GenerationError as exc:
            return PlanResult(command, None, reject(f"generation failed: {exc}"), error=f"generation error: {exc}",
                              latency_s=time.monotonic() - t0, kind=ResultKind.GENERATION_ERROR)
        result = resolve(out.text, self.config, command, t0, self.memory, self.places)
        if result.kind is ResultKind.ACTION:
            turn = self.memory.add(normalised, out.text, result.actions)
            result = replace(result, turn=turn.index)
        return result
