"""Which returns of a laser scan count, by REP 117: one rule for the obstacle query and the collision guard."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def valid_ranges(ranges: Sequence[float], range_min: float, range_max: float) -> np.ndarray:
    """The ranges as floats, NaN where a return does not count.

    -inf (too close to measure) is an object at ``range_min``; NaN, +inf and finite ranges outside
    [range_min, range_max] are no return.
    """
    r = np.asarray(ranges, dtype=float)
    r = np.where(r == -np.inf, max(float(range_min), 0.0), r)
    return np.where(np.isfinite(r) & (r >= range_min) & (r <= range_max), r, np.nan)
