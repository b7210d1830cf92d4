"""Seeded choices that remember what they chose and which held-out options they used.

Every sampler draws through one ``Ctx``: ``trace`` becomes the example's operator/phrasing
provenance, ``held`` the held-out items it used. Training contexts never see a held-out option;
test contexts take one with probability ``p_held`` at each choice that has them.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field


def label(option) -> str:
    """A short name for an option (its first element when it is a tuple)."""
    if isinstance(option, tuple):
        option = option[0]
    return str(option)[:40]


@dataclass
class Ctx:
    rng: random.Random
    test: bool = False  # drawing for the test split: held-out options allowed
    p_held: float = 0.5
    trace: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)

    def mark(self) -> tuple[int, int]:
        """Where the trace and held lists are now (``undo`` forgets a discarded draw)."""
        return len(self.trace), len(self.held)

    def undo(self, mark: tuple[int, int]) -> None:
        del self.trace[mark[0]:], self.held[mark[1]:]

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def pick(self, name: str, train: Sequence, held: Sequence = (), p_held: float | None = None):
        """One option: from ``held`` (test only, with probability ``p_held``) or from ``train``."""
        use_held = self.test and bool(held) and self.rng.random() < (self.p_held if p_held is None else p_held)
        option = self.rng.choice(held if use_held else train)
        if use_held:
            self.held.append(f"{name}:{label(option)}")
        self.trace.append(f"{name}={label(option)}")
        return option

    def weighted(self, name: str, options: Sequence[tuple[object, float]]):
        """One option of (option, weight) pairs (no held-out part); recorded in the trace."""
        option = self.rng.choices([o for o, _ in options], weights=[w for _, w in options])[0]
        self.trace.append(f"{name}={label(option)}")
        return option
