"""The one percentile definition of the evaluation, the closed loop, the Alpaca analysis and the benchmarks:
``numpy.percentile`` with its default (linear interpolation between the two nearest ranks)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

METHOD = "linear"


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``; NaN for none."""
    return percentiles(values, [q])[0]


def percentiles(values: Sequence[float], qs: Sequence[float]) -> list[float]:
    """Quantiles ``qs`` (each 0..1) of ``values``; NaN for each when there are none."""
    if len(values) == 0:
        return [float("nan")] * len(qs)
    return [float(v) for v in np.percentile(np.asarray(values, dtype=float), [100 * q for q in qs], method=METHOD)]
