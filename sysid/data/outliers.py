"""Outliers in a log: samples far from their neighbours, named by file, column and row.

A sample is an outlier when it differs from the median of the 5 samples around it by more than
`k` times the signal's noise level (`noise_std`, a robust estimate that spikes do not inflate)
and by more than 3 times the range of its 4 neighbours. The median keeps steps and smooth
motion, and the neighbours' range keeps corners and saturated stretches of noise-free signals,
so only isolated spikes (a dropped bit, a glitch of the encoder) stand out. They are reported, not removed: the user decides (fix the log, or fit
with a robust loss, `--loss huber`).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.ndimage import median_filter

from sysid.data.filters import noise_std
from sysid.data.log import Log
from sysid.data.mapfile import signal_name

K_SIGMA = 12.0  # noise levels from the local median beyond which a sample is reported
SPIKE_RATIO = 3.0  # a spike's distance from the local median over the range of its 4 neighbours
SHOWN = 3  # outliers named in the warning of one log


@dataclasses.dataclass(frozen=True)
class Outlier:
    """One sample: its column ("hinge.pos"), its row (1 = the first data row), time (s), value, the
    local median, and the distance in noise levels."""

    column: str
    row: int
    time: float
    value: float
    median: float
    sigmas: float


def find_outliers(log: Log, *, k: float = K_SIGMA) -> list[Outlier]:
    """Every outlier of the log's position, velocity and effort columns, largest first."""
    found = []
    time = np.asarray(log.time, float)
    for group, signals in (("pos", log.pos), ("vel", log.vel), ("effort", log.effort)):
        for name, x in signals.items():
            x = np.asarray(x, float)
            if x.ndim != 1 or len(x) < 7 or not np.isfinite(x).all():
                continue
            median = median_filter(x, size=5, mode="nearest")
            sigma = max(noise_std(time, x), 1e-12 * max(float(np.ptp(median)), 1.0))
            distance = np.abs(x - median) / sigma
            # An isolated spike also lies far outside the range of its 4 neighbours (a corner, a
            # step or a saturated stretch of a noise-free signal does not).
            around = np.lib.stride_tricks.sliding_window_view(np.pad(x, 2, mode="edge"), 5)[:, [0, 1, 3, 4]]
            isolated = np.abs(x - median) > SPIKE_RATIO * np.ptp(around, axis=1)
            for i in np.flatnonzero((distance > k) & isolated):
                found.append(Outlier(signal_name(name, group), int(i) + 1, float(time[i]), float(x[i]), float(median[i]), float(distance[i])))
    return sorted(found, key=lambda o: -o.sigmas)


def describe_outliers(source: str, outliers: list[Outlier], *, k: float = K_SIGMA) -> str:
    """One line naming the file and the largest outliers by column and row."""
    shown = "; ".join(f"column {o.column} row {o.row} (t {o.time:.4g} s): {o.value:.4g} where its neighbours are near "
                      f"{o.median:.4g} ({o.sigmas:.3g} noise levels)" for o in outliers[:SHOWN])
    more = f" and {len(outliers) - SHOWN} more" if len(outliers) > SHOWN else ""
    return (f"{source}: {len(outliers)} outlier(s) beyond {k:g} noise levels from their neighbours: {shown}{more}; "
            "check the log, or fit with --loss huber (soft_l1, cauchy) so they weigh less")
