"""The memory a fit will need, estimated from its plan before it starts, and the guard on it.

Everything a fit keeps grows linearly with the logged values it compares (`sysid.loss`: a few
numbers per compared entry, the residual vectors of the polish) and with the model steps of
its windows (the held controls); rollouts and Jacobians run a bounded number of windows at a
time (`sysid.loss.CHUNK_BYTES`) and the least squares keeps one small factor per window
(`sysid.optim.blocks`). `check_memory` stops a fit whose estimate exceeds the memory available,
with one line that says what to change.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from sysid.errors import UserError
from sysid.loss import CHUNK_BYTES
from sysid.track import Track

BYTES_PER_ENTRY = 120  # per compared logged value: window tables (48), residual vectors and simulated copies
BYTES_PER_ROW_VALUE = 24  # per logged number (row x column): the log, its filtered track, their copies
BASELINE_BYTES = 400 * 2**20  # Python, MuJoCo, numpy / scipy, the thread pool's MjData


def available_bytes() -> int:
    """Memory this process can still take: MemAvailable of /proc/meminfo, else the physical memory."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 2**62  # unknown: no guard


def fit_bytes(tracks: Sequence[Track], *, horizon: float, timestep: float, nu: int, n: int, nx: int) -> tuple[int, int, int]:
    """Estimated peak memory of a fit whose polish stage compares `tracks` over `horizon` s windows.

    Args:
      tracks: the bound logs; horizon: s, the polish windows; timestep: s, the model's.
      nu: actuators; n: fitted parameters; nx: start-state entries refined per window (0 when not refined).
    Returns:
      (bytes, compared entries, windows).
    """
    entries = sum(max(len(tr.time) - 1, 0) * len(tr.signals) for tr in tracks)
    values = sum(len(tr.time) * (2 + tr.qpos.shape[1] + tr.qvel.shape[1] + len(tr.signals) + tr.ctrl.shape[1]) for tr in tracks)
    duration = sum(float(tr.time[-1] - tr.time[0]) for tr in tracks if len(tr.time))
    windows = sum(int(np.ceil((tr.time[-1] - tr.time[0]) / horizon)) for tr in tracks if len(tr.time) > 1)
    steps = duration / timestep + windows * horizon / timestep
    k = nx + n + 1  # the least squares' factor of a window is k x k
    total = (BASELINE_BYTES + 3 * CHUNK_BYTES + entries * (BYTES_PER_ENTRY + 8 * nx) + values * BYTES_PER_ROW_VALUE
             + steps * nu * 8 + windows * 3 * 8 * k**2)
    return int(total), entries, windows


def check_memory(tracks: Sequence[Track], *, horizon: float, timestep: float, nu: int, n: int, nx: int) -> None:
    """Raise a one-line `UserError` when the fit's estimated memory (`fit_bytes`) exceeds what is available."""
    need, entries, windows = fit_bytes(tracks, horizon=horizon, timestep=timestep, nu=nu, n=n, nx=nx)
    have = available_bytes()
    if need > have:
        raise UserError(
            f"this fit needs about {need / 2**30:.1f} GB of memory ({entries:.3g} logged values compared in {windows} "
            f"windows of {horizon:g} s) but {have / 2**30:.1f} GB is available; fit fewer or shorter logs "
            f"(--log, --episode) or logs resampled to a lower rate")
