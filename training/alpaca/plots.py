"""Matplotlib charts for the Alpaca report: each function writes one PNG and returns its path."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: CI and the training box have no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from training.stats import percentile  # noqa: E402

DPI = 110
BAR = "#4C72B0"
BAR2 = "#DD8452"


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def length_histograms(series: Mapping[str, np.ndarray], path: Path, title: str) -> Path:
    """One histogram panel per series (e.g. words, tokens), clipped at p99 so the bulk is visible."""
    fig, axes = plt.subplots(1, len(series), figsize=(6 * len(series), 4.2), squeeze=False)
    for ax, (label, values) in zip(axes[0], series.items()):
        clip = percentile(values, 0.99) if len(values) else 1.0
        shown = values[values <= clip]
        bins = np.arange(-0.5, int(clip) + 1.5) if clip <= 80 else 60  # integer-centred bins
        ax.hist(shown, bins=bins, color=BAR, edgecolor="white", linewidth=0.3)
        med, mean = float(np.median(values)), float(np.mean(values))
        ax.axvline(med, color="black", linestyle="--", linewidth=1, label=f"median {med:g}")
        ax.axvline(mean, color=BAR2, linestyle=":", linewidth=1.5, label=f"mean {mean:.1f}")
        ax.set_xlabel(label)
        ax.set_ylabel("records")
        ax.set_title(f"{label} (≤ p99 = {clip:g} shown; max {int(values.max()) if len(values) else 0})", fontsize=10)
        ax.legend(frameon=False)
    fig.suptitle(title)
    return _save(fig, path)


def horizontal_bars(labels: Sequence[str], counts: Sequence[float], path: Path, title: str, xlabel: str,
                    total: int | None = None) -> Path:
    """Largest at the top; with ``total`` each bar is annotated with its share."""
    fig, ax = plt.subplots(figsize=(8, 0.32 * len(labels) + 1.4))
    y = np.arange(len(labels))[::-1]
    ax.barh(y, counts, color=BAR)
    ax.set_yticks(y, labels)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    for yi, c in zip(y, counts):
        note = f" {c:,}" + (f" ({100 * c / total:.1f}%)" if total else "")
        ax.text(c, yi, note, va="center", fontsize=8)
    ax.set_xlim(0, max(counts, default=1) * 1.25)
    ax.spines[["top", "right"]].set_visible(False)
    return _save(fig, path)


def by_task_bars(stats: Mapping[str, Mapping[str, Mapping]], path: Path, title: str) -> Path:
    """Mean and median output length per task type, one panel per unit (words, tokens)."""
    fig, axes = plt.subplots(1, len(stats), figsize=(6.5 * len(stats), 0.33 * max(map(len, stats.values())) + 1.6),
                             squeeze=False)
    for ax, (unit, per_task) in zip(axes[0], stats.items()):
        tasks = sorted(per_task, key=lambda t: per_task[t]["mean"])
        y = np.arange(len(tasks))
        ax.barh(y + 0.2, [per_task[t]["mean"] for t in tasks], height=0.4, color=BAR, label="mean")
        ax.barh(y - 0.2, [per_task[t]["median"] for t in tasks], height=0.4, color=BAR2, label="median")
        ax.set_yticks(y, [f"{t} (n={per_task[t]['n']:,})" for t in tasks], fontsize=8)
        ax.set_xlabel(f"output length ({unit})")
        ax.legend(frameon=False, loc="lower right")
        ax.spines[["top", "right"]].set_visible(False)
    fig.suptitle(title)
    return _save(fig, path)


def verb_object_rings(pairs: Sequence[tuple[str | None, str | None]], path: Path, n_verbs: int = 20,
                      n_objects: int = 4) -> Path:
    """Self-Instruct-style nested ring: inner ring the top verbs, outer ring each verb's top objects
    (the verb's remaining instructions are left blank)."""
    verbs = [v for v, _ in Counter(v for v, _ in pairs if v).most_common(n_verbs)]
    objects: dict[str, Counter] = defaultdict(Counter)
    totals: Counter = Counter()
    for v, o in pairs:
        if v in objects or v in verbs:
            totals[v] += 1
            if o:
                objects[v][o] += 1
    cmap = plt.get_cmap("tab20")
    inner, outer, outer_labels, outer_colors = [], [], [], []
    for i, v in enumerate(verbs):
        inner.append(totals[v])
        shown = objects[v].most_common(n_objects)
        for o, c in shown:
            outer.append(c)
            outer_labels.append(o)
            outer_colors.append((*cmap(i % 20)[:3], 0.75))
        rest = totals[v] - sum(c for _, c in shown)
        outer.append(rest)
        outer_labels.append("")
        outer_colors.append((1, 1, 1, 0))
    fig, ax = plt.subplots(figsize=(10, 10))
    total = sum(inner) or 1
    ax.pie(inner, radius=0.62, colors=[cmap(i % 20) for i in range(len(verbs))],
           labels=[v if c / total > 0.012 else "" for v, c in zip(verbs, inner)], labeldistance=0.62,
           textprops={"fontsize": 9, "ha": "center"}, wedgeprops={"width": 0.42, "edgecolor": "white"},
           startangle=90, counterclock=False, rotatelabels=True)
    ax.pie(outer, radius=1.0, colors=outer_colors,
           labels=[lbl if c / total > 0.003 else "" for lbl, c in zip(outer_labels, outer)], labeldistance=0.8,
           textprops={"fontsize": 7, "ha": "center"}, wedgeprops={"width": 0.38, "edgecolor": "white"},
           startangle=90, counterclock=False, rotatelabels=True)
    ax.set_title(f"Top {len(verbs)} root verbs (inner) and their top {n_objects} direct objects (outer)")
    return _save(fig, path)
