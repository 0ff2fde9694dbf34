"""Excitation signal families, as plain functions of a time grid.

* `multisine` with `schroeder_phases` (Schroeder 1970): a flat spectrum with a low crest factor;
* `chirp`: a logarithmic frequency sweep;
* `prbs`: a maximum-length pseudo-random binary sequence from a linear feedback shift register;
* `fourier_trajectory`: the finite Fourier series joint trajectories of Swevers et al. (1997),
  made to start and end at rest by `at_rest`.

Command-space signals (multisine, chirp, PRBS) are brought to rest at both ends by `taper`.
All frequencies are in Hz, times in seconds.
"""

from __future__ import annotations

import numpy as np

# Feedback taps (1-based register stages) of maximum-length LFSRs, by register length.
PRBS_TAPS = {
    3: (3, 2), 4: (4, 3), 5: (5, 3), 6: (6, 5), 7: (7, 6), 8: (8, 6, 5, 4), 9: (9, 5), 10: (10, 7),
    11: (11, 9), 12: (12, 11, 10, 4), 13: (13, 12, 11, 8), 14: (14, 13, 12, 2), 15: (15, 14), 16: (16, 15, 13, 4),
}


def schroeder_phases(n: int) -> np.ndarray:
    """(n,) rad: phi_k = -pi k (k - 1) / n for k = 1..n, the low-crest-factor phases of a flat multisine."""
    k = np.arange(1, n + 1)
    return -np.pi * k * (k - 1) / n


def multisine(time: np.ndarray, freqs: np.ndarray, amplitudes: np.ndarray, phases: np.ndarray) -> np.ndarray:
    """(N,) sum_k amplitudes[k] sin(2 pi freqs[k] t + phases[k]) for t in `time` (N,) s; freqs (K,) Hz."""
    arg = 2 * np.pi * np.outer(time, freqs) + phases[None, :]
    return np.sin(arg) @ np.asarray(amplitudes, float)


def chirp(time: np.ndarray, f_start: float, f_end: float) -> np.ndarray:
    """(N,) unit-amplitude sine sweeping log-linearly from `f_start` to `f_end` Hz over `time` (N,) s."""
    t = time - time[0]
    span = max(float(t[-1]), 1e-12)
    ratio = f_end / f_start
    if abs(np.log(ratio)) < 1e-9:
        phase = 2 * np.pi * f_start * t
    else:
        phase = 2 * np.pi * f_start * span / np.log(ratio) * (ratio ** (t / span) - 1.0)
    return np.sin(phase)


def prbs(time: np.ndarray, clock: float, *, seed: int = 1) -> np.ndarray:
    """(N,) +-1 maximum-length sequence holding each bit for `clock` s over `time` (N,) s.

    The register is the shortest in `PRBS_TAPS` whose period covers the signal (at least 3
    bits); `seed` picks its nonzero start state, so different seeds give shifted sequences.
    """
    nbits = int(np.floor((time[-1] - time[0]) / clock + 1e-9)) + 1
    order = next((o for o in sorted(PRBS_TAPS) if 2**o - 1 >= nbits), max(PRBS_TAPS))
    state = [(seed >> i) & 1 for i in range(order)]
    if not any(state):
        state[0] = 1
    bits = np.empty(nbits)
    for i in range(nbits):
        bits[i] = state[-1]
        feedback = 0
        for tap in PRBS_TAPS[order]:
            feedback ^= state[tap - 1]
        state = [feedback, *state[:-1]]
    index = np.minimum(np.floor((time - time[0]) / clock + 1e-9).astype(int), nbits - 1)
    return 2.0 * bits[index] - 1.0


def taper(time: np.ndarray, ramp: float) -> np.ndarray:
    """(N,) window in [0, 1]: raised-cosine ramps over the first and last `ramp` s, 1 between.

    Multiplying a signal by it makes the signal, its slope and its curvature vanish at both ends.
    """
    t = time - time[0]
    end = t[-1]
    ramp = min(ramp, end / 2)
    rise = np.clip(t / ramp, 0.0, 1.0) if ramp > 0 else np.ones_like(t)
    fall = np.clip((end - t) / ramp, 0.0, 1.0) if ramp > 0 else np.ones_like(t)
    return (0.5 - 0.5 * np.cos(np.pi * rise)) * (0.5 - 0.5 * np.cos(np.pi * fall))


def at_rest(a: np.ndarray, b: np.ndarray, harmonics: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project Fourier coefficients so that the trajectory starts (and so ends) at rest.

    Args:
      a, b: (..., L) velocity amplitudes of the cosine and sine terms (see `fourier_trajectory`).
      harmonics: (L,) harmonic numbers.
    Returns:
      The closest (a, b) with zero velocity (sum a_l = 0) and zero acceleration
      (sum l b_l = 0) at t = 0; the series is periodic, so also at the end of each period.
    """
    k = np.asarray(harmonics, float)
    a = a - a.mean(axis=-1, keepdims=True)
    b = b - (b @ k)[..., None] * k / (k @ k)
    return a, b


def fourier_trajectory(time: np.ndarray, a: np.ndarray, b: np.ndarray, harmonics: np.ndarray, period: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A finite Fourier series joint trajectory (Swevers et al. 1997), offset to start at 0.

        qd(t) = sum_l a_l cos(w_l t) + b_l sin(w_l t),  w_l = 2 pi harmonics[l] / period
        q(t)  = sum_l a_l / w_l sin(w_l t) - b_l / w_l (cos(w_l t) - 1)

    Args:
      time: (N,) s.
      a, b: (L,) or (J, L) velocity amplitudes (rad/s or m/s); pass them through `at_rest` for
        a trajectory that starts and ends at rest.
      harmonics: (L,) positive integers.
      period: s, the fundamental period.
    Returns:
      position, velocity, acceleration offsets, each (N,) or (N, J).
    """
    w = 2 * np.pi * np.asarray(harmonics, float) / period
    wt = np.multiply.outer(time - time[0], w)  # (N, L)
    s, c = np.sin(wt), np.cos(wt)
    a, b = np.asarray(a, float), np.asarray(b, float)
    q = s @ (a / w).T - (c - 1.0) @ (b / w).T
    qd = c @ a.T + s @ b.T
    qdd = -s @ (a * w).T + c @ (b * w).T
    return q, qd, qdd
