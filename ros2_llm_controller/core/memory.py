"""What the planner remembers between commands: the turns that parsed, for the model's context and
for "again", "twice more", "undo that" and "continue" (ROS-free).

Only turns that parsed are kept (a garbled answer never becomes context). A stop clears nothing
but the motion: after "stop", "continue" resumes the steps that had not run, and "again" repeats
the whole last plan.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from .actions import Action


@dataclass(frozen=True)
class Turn:
    index: int  # 1, 2, ... for the node's lifetime: status says which turn a repeat refers to
    command: str  # as the model read it (normalised)
    answer: str  # the model's answer
    steps: tuple[Action, ...] = ()  # the plan it ran (empty for queries and replies)

    def history(self) -> list[dict]:
        return [{"role": "user", "content": self.command}, {"role": "assistant", "content": self.answer}]


class PlanMemory:
    """The last ``max_turns`` parsed turns and, per plan, the steps not yet run (thread-safe)."""

    def __init__(self, max_turns: int = 10):
        self._turns: deque[Turn] = deque(maxlen=max(int(max_turns), 1))
        self._count = 0
        self._remaining: tuple[int, tuple[Action, ...]] | None = None
        self._lock = threading.Lock()

    def add(self, command: str, answer: str, steps: tuple[Action, ...] = ()) -> Turn:
        with self._lock:
            self._count += 1
            turn = Turn(self._count, command, answer, tuple(steps))
            self._turns.append(turn)
            if steps:
                self._remaining = None  # a new plan: nothing of the old one to continue
            return turn

    def last_plan(self) -> Turn | None:
        """The latest turn that ran a plan."""
        with self._lock:
            return next((t for t in reversed(self._turns) if t.steps), None)

    def history(self, n: int) -> list[dict]:
        """The last ``n`` turns as messages, oldest first."""
        if n <= 0:
            return []
        with self._lock:
            turns = list(self._turns)[-n:]
        return [m for t in turns for m in t.history()]

    def interrupted(self, turn_index: int, remaining: tuple[Action, ...]) -> None:
        """A plan was stopped with ``remaining`` steps (the current one from where it stopped) left."""
        with self._lock:
            self._remaining = (turn_index, tuple(remaining)) if remaining else None

    def remaining(self) -> tuple[int, tuple[Action, ...]] | None:
        with self._lock:
            return self._remaining

    def copy(self) -> "PlanMemory":
        """An independent memory with the same turns (evaluation replays each example from its history)."""
        with self._lock:
            other = PlanMemory(self._turns.maxlen or 1)
            other._turns.extend(self._turns)
            other._count, other._remaining = self._count, self._remaining
        return other

    def clear(self) -> None:
        with self._lock:
            self._turns.clear()
            self._remaining = None
