"""Smoothing, differentiation and noise estimation for logged signals (pure numpy/scipy functions).

All functions take `time` as (N,) seconds, strictly increasing, irregular spacing allowed.
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.signal import savgol_coeffs, savgol_filter

from sysid.data.log import Log
from sysid.errors import UserError

_POLYORDER = 3
_DEFAULT_WINDOW = 21  # samples
_MIN_WINDOW = _POLYORDER + 2  # 5: the smallest odd window that still smooths a cubic fit
_UNIFORM_RTOL = 1e-6  # steps within this relative tolerance of the median count as uniform

# noise_std: local polynomial of degree 5 over 9 samples. The high degree keeps the signal out of the
# residual even for signals sampled only ~10x faster than their content; 3 residual degrees of freedom
# per window are enough for the robust scale.
_NOISE_WINDOW = 9
_NOISE_ORDER = 5
_NOISE_CHUNK = 65536  # windows per batch, bounds memory to ~30 MB
_NOISE_FLOOR = 1e-9  # relative to max |x|


def smooth(time: np.ndarray, x: np.ndarray, *, window_s: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Savitzky-Golay (cubic) smoothed value and first time-derivative of a signal.

    Irregular timestamps are handled by resampling linearly onto a uniform grid at the median step,
    filtering there, and interpolating back (cubic spline) to `time`. Logs shorter than 5 samples are
    returned unsmoothed, with a second-order finite-difference derivative (`np.gradient`).

    Args:
      time: (N,) seconds, strictly increasing, N >= 2.
      x: (N,) or (N, ...) signal, any unit U.
      window_s: filter window in seconds; default about 21 samples. The window is always an odd
        number of samples, at least 5 and at most N.

    Returns:
      (x_smooth, dx_smooth): same shape as `x`, in U and U/s.
    """
    t = np.asarray(time, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    n = len(t)
    if t.ndim != 1 or x.shape[:1] != (n,):
        raise ValueError(f"smooth: time has shape {t.shape} and x {x.shape}; expected (N,) and (N, ...)")
    if n < 2:
        raise ValueError(f"smooth: need at least 2 samples, got {n}")
    if window_s is not None and not window_s > 0:
        raise ValueError(f"smooth: window_s must be positive seconds, got {window_s!r}")

    dt = np.diff(t)
    step = float(np.median(dt))
    uniform = bool(np.all(np.abs(dt - step) <= _UNIFORM_RTOL * step))
    if uniform:
        grid, xg = t, x
    else:
        m = min(int(round((t[-1] - t[0]) / step)) + 1, 10 * n)  # cap: bursty timestamps
        grid = np.linspace(t[0], t[-1], m)
        xg = _interp_linear(grid, t, x)
    m = len(grid)
    if m < _MIN_WINDOW:
        return x.copy(), np.gradient(x, t, axis=0, edge_order=2 if n >= 3 else 1)

    h = float(grid[1] - grid[0])
    window = _DEFAULT_WINDOW if window_s is None else int(round(window_s / h))
    window = min(max(window, _MIN_WINDOW), m)
    if window % 2 == 0:
        window = window - 1 if window == m else window + 1
    xs = savgol_filter(xg, window, _POLYORDER, axis=0, mode="interp")
    dxs = savgol_filter(xg, window, _POLYORDER, deriv=1, delta=h, axis=0, mode="interp")
    if uniform:
        return xs, dxs
    return CubicSpline(grid, xs, axis=0)(t), CubicSpline(grid, dxs, axis=0)(t)


def noise_std(time: np.ndarray, x: np.ndarray) -> float:
    """Standard deviation of the white measurement noise on a signal, estimated from its high frequencies.

    Each sample is compared with a local degree-5 polynomial fitted (least squares, on the actual
    timestamps) to the 9 samples around it. The residual is divided by sqrt(1 - leverage), which makes
    its standard deviation exactly sigma for white noise whatever the spacing, and sigma is taken as
    1.4826 * MAD of those residuals (robust to spikes). Residuals that are exactly zero (a signal that
    does not change, e.g. a quantized sensor at rest) carry no information and are left out. Signal
    content well below the Nyquist frequency (rate / 10 or slower) does not leak into the estimate.

    Args:
      time: (N,) seconds, strictly increasing.
      x: (N,) signal, any unit U.

    Returns:
      sigma in U. Never 0: it is at least 1e-9 * max|x| (1e-9 when x is all zeros), so that a noiseless
      signal can still be used as a normalisation scale. Logs shorter than 5 samples get that floor.
    """
    t = np.asarray(time, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    if t.ndim != 1 or x.shape != t.shape:
        raise ValueError(f"noise_std: time has shape {t.shape} and x {x.shape}; expected both (N,)")
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    floor = _NOISE_FLOOR * (peak if peak > 0 else 1.0)
    n = len(t)
    window = min(_NOISE_WINDOW, n)
    order = min(_NOISE_ORDER, window - 3)
    if order < 2:
        return floor
    z = _normalized_residuals(t, x, window, order)
    z = z[np.abs(z) > 1e-12 * peak]
    if z.size == 0:
        return floor
    sigma = 1.4826 * float(np.median(np.abs(z - np.median(z))))
    return max(sigma, floor)


def velocity(log: Log, joint: str, *, window_s: float | None = None) -> np.ndarray:
    """(N,) velocity of `joint` in rad/s or m/s: the logged one if present, else `smooth`'s derivative of position.

    `window_s` is passed to `smooth` when the velocity is derived.
    """
    if joint in log.vel:
        return log.vel[joint]
    if joint not in log.pos:
        raise UserError(f"{log.source}: no joint '{joint}' in the log; logged joints: {', '.join(log.pos) or 'none'}")
    return smooth(log.time, log.pos[joint], window_s=window_s)[1]


def _interp_linear(tq: np.ndarray, t: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Linear interpolation of (N, ...) `x` at (M,) `tq`, column by column -> (M, ...)."""
    flat = x.reshape(len(t), -1)
    out = np.stack([np.interp(tq, t, flat[:, j]) for j in range(flat.shape[1])], axis=1)
    return out.reshape((len(tq),) + x.shape[1:])


def _normalized_residuals(t: np.ndarray, x: np.ndarray, window: int, order: int) -> np.ndarray:
    """Residual of each sample from a local polynomial fit, divided by sqrt(1 - leverage).

    Window k covers samples [start_k, start_k + window), centred on k except at the ends. Returns
    (N,) values, or (N - window + 1,) for uniform steps, where only centred windows are used.
    """
    n = len(t)
    dt = np.diff(t)
    if np.all(np.abs(dt - np.median(dt)) <= _UNIFORM_RTOL * np.median(dt)):
        # Uniform steps: the fit is one fixed filter; use the samples whose window is centred.
        half = window // 2
        centre = savgol_coeffs(window, order)[half]
        residual = x - savgol_filter(x, window, order, mode="nearest")  # the edges are dropped: skip their polynomial fits
        return residual[half : n - half] / np.sqrt(1.0 - centre)
    out = np.empty(n)
    powers = np.arange(order + 1)
    for lo in range(0, n, _NOISE_CHUNK):
        k = np.arange(lo, min(lo + _NOISE_CHUNK, n))
        start = np.clip(k - window // 2, 0, n - window)
        rows = start[:, None] + np.arange(window)
        tw, xw = t[rows], x[rows]
        half_span = 0.5 * (tw[:, -1] - tw[:, 0])
        u = (tw - t[k][:, None]) / half_span[:, None]  # in [-2, 2], well conditioned
        q, _ = np.linalg.qr(u[..., None] ** powers)  # (K, window, order + 1), orthonormal columns
        qk = q[np.arange(len(k)), k - start]  # row of the sample itself
        fit = np.einsum("ki,kwi,kw->k", qk, q, xw)
        leverage = np.einsum("ki,ki->k", qk, qk)
        out[k] = (x[k] - fit) / np.sqrt(np.maximum(1.0 - leverage, 1e-12))
    return out
