"""Estimating the command-to-response transport delay of a robot from its logs.

Model: each actuated joint's acceleration is, locally, linear in the delayed command and in the
joint states, a(t) = k u(t - d) + b . [q, qd, sin q, cos q, 1] (a torque motor, a position servo,
a motor on a cart all fit this shape). For a delay d every term is filtered with the same zero-phase
Savitzky-Golay filter (so filtering shifts nothing) and the coefficients come from least squares;
the delay is the d that leaves the smallest residual. A scan over whole samples (the partial
correlation of the command with the acceleration, i.e. a cross-correlation that first removes
what the states explain) finds the coarse delay; a bounded 1-D minimisation around it refines it
below one sample, the delayed command being the held command averaged over one sample period
(continuous in d). Other joints' accelerations and the usual coupling terms (cos q qdd, sin q qd^2)
and a smooth Coulomb term join the regressors, so a cart under a pole or a friction joint is fitted.

Uncertainty: the log is cut into `SEGMENTS` blocks and the delay re-estimated with each block left
out; the jackknife standard error gives an interval estimate +- 2 se (clipped at 0). The estimate
is informative only when that interval is narrower than one sample period (and the command
explains a noticeable part of the response); a log whose interval reaches 0 shows no detectable
delay, and is reported so.

Convention: the result is returned in sysid's simulator convention when `timestep` is given
(`sysid.sim` applies the command averaged over each semi-implicit Euler step, which responds half
a step earlier than continuous time), so it can start the `delay` parameter directly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import mujoco
import numpy as np
from scipy.optimize import minimize_scalar
from scipy.signal import savgol_filter

from sysid.data.log import Log
from sysid.errors import UserError
from sysid.floating import split_component

_POLYORDER = 3
_WINDOW_S = 0.05  # s, filter window (at least 7 samples)
INFORMATIVE_GAIN = 0.01  # the command must explain this much more variance for the estimate to count
SEGMENTS = 8  # jackknife blocks per log


@dataclasses.dataclass(frozen=True)
class DelayEstimate:
    """The estimated actuation delay.

    Attributes:
      delay: s, the refined estimate (in the simulator's convention when a timestep was given).
      coarse: s, the best whole-sample delay of the scan (same convention).
      sample_period: s, the (median) log sample period the scan stepped by.
      r2: fraction of the filtered acceleration's variance the model explains at `delay`.
      r2_no_command: the same without the command term: how much the command adds.
      pairs: (actuator, joint) pairs used.
      lower, upper: s, the interval delay +- 2 jackknife standard errors, lower clipped at the zero
        delay (same convention as `delay`).
      shift: s, what the convention adds to a continuous-time delay (timestep / 2, or 0).
    """

    delay: float
    coarse: float
    sample_period: float
    r2: float
    r2_no_command: float
    pairs: tuple[tuple[str, str], ...]
    lower: float = -np.inf
    upper: float = np.inf
    shift: float = 0.0

    @property
    def detected(self) -> bool:
        """True when the interval excludes a zero delay."""
        return self.lower > self.shift

    @property
    def informative(self) -> bool:
        """True when the interval is narrower than one sample and the command explains a noticeable
        part of the response (r2 gain >= 0.01); smooth commands or noisy positions leave it wide."""
        return self.upper - self.lower < self.sample_period and self.r2 - self.r2_no_command >= INFORMATIVE_GAIN

    @property
    def std(self) -> float:
        """s, the jackknife standard error (half the interval's unclipped half-width)."""
        return (self.upper - self.delay) / 2

    def describe(self) -> str:
        """One line for people: no non-zero delay is stated for a log whose interval reaches zero."""
        ms = lambda x: f"{1e3 * x:.3g}"  # noqa: E731
        if not self.detected:
            text = f"no delay detected (interval up to {ms(self.upper)} ms)"
        else:
            text = f"{ms(self.delay)} ms (interval {ms(self.lower)} to {ms(self.upper)} ms)"
        if not self.informative:
            text += f", not informative (wider than one sample, {ms(self.sample_period)} ms, or a weak command)"
        return text

    def as_dict(self) -> dict:
        """Plain data for result.json."""
        return {"value": self.delay, "lower": self.lower, "upper": self.upper, "detected": self.detected,
                "coarse": self.coarse, "sample_period": self.sample_period, "r2": self.r2, "r2_no_command": self.r2_no_command,
                "informative": self.informative, "pairs": [list(p) for p in self.pairs], "summary": self.describe()}


def compare_with_fit(estimate: DelayEstimate, fitted: float, fitted_std: float) -> str | None:
    """A warning when the fitted delay (s, with its standard error) and the estimate disagree by more
    than twice their combined standard error; None when they agree."""
    spread = 2 * float(np.hypot(estimate.std, fitted_std if np.isfinite(fitted_std) else 0.0))
    if abs(fitted - estimate.delay) <= max(spread, 0.5 * estimate.sample_period):
        return None
    return (f"the fitted delay {1e3 * fitted:.3g} ms disagrees with the delay estimated from the logs, "
            f"{estimate.describe()}; check the command-to-joint pairs and the log timing, or fix the delay in --config")


def actuated_joints(model: mujoco.MjModel) -> dict[str, str]:
    """Actuator name -> the joint it drives, for actuators with a joint transmission."""
    out = {}
    for a in range(model.nu):
        if model.actuator_trntype[a] in (int(mujoco.mjtTrn.mjTRN_JOINT), int(mujoco.mjtTrn.mjTRN_JOINTINPARENT)):
            out[model.actuator(a).name] = model.joint(int(model.actuator_trnid[a, 0])).name
    return out


def estimate_delay(logs: Sequence[Log], pairs: Mapping[str, str] | None = None, *, max_delay: float = 0.1,
                   timestep: float = 0.0) -> DelayEstimate | None:
    """The delay between the logged commands and the joints' response, shared by all actuators.

    Args:
      logs: logs of one robot (sampled at any rate, irregular allowed).
      pairs: actuator -> joint it drives (e.g. `actuated_joints(model)`); default: when every log
        has one command and one joint, that pair.
      max_delay: s, the largest delay searched.
      timestep: s, the model timestep; adds timestep / 2 so the result is in `sysid.sim`'s
        convention (0: continuous-time convention).
    Returns:
      The estimate, or None when no log has a command that changes.
    """
    if pairs is None:
        if not all(len(log.ctrl) == 1 and len(log.pos) == 1 for log in logs):
            raise UserError("estimate_delay: give the actuator -> joint pairs (logs have several commands or joints)")
        pairs = {next(iter(log.ctrl)): next(iter(log.pos)) for log in logs[:1]}
    pairs = {a: j for a, j in pairs.items() if all(a in log.ctrl and j in log.pos for log in logs)}
    usable = [log for log in logs if len(log.time) >= 20 and any(np.ptp(log.ctrl[a]) > 0 for a in pairs)]
    if not pairs or not usable:
        return None
    period = float(np.median(np.concatenate([np.diff(log.time) for log in usable])))
    problems = [_Problem(log, pairs, period, max_delay) for log in usable]
    if sum(p.rows for p in problems) < 10:
        return None

    def costs(d: float | None) -> np.ndarray:  # (1 + SEGMENTS,): all rows, then each block left out
        return sum(p.costs(d) for p in problems) / len(problems)

    lags = np.arange(0, max_delay * (1 + 1e-9), period)
    scan = np.array([costs(d) for d in lags])  # (L, 1 + SEGMENTS)
    found = []
    for k in range(scan.shape[1]):
        coarse = float(lags[int(np.argmin(scan[:, k]))])
        lo, hi = max(0.0, coarse - period), min(max_delay, coarse + period)
        refined = minimize_scalar(lambda d: costs(d)[k], bounds=(lo, hi), method="bounded",
                                  options={"xatol": 1e-3 * period}) if hi > lo else None
        found.append((float(refined.x) if refined is not None and refined.fun <= scan[:, k].min() else coarse, coarse))
    (delay, coarse), jack = found[0], np.array([d for d, _ in found[1:]])
    std = float(np.sqrt((len(jack) - 1) / len(jack) * np.sum((jack - jack.mean()) ** 2)))
    r2 = 1 - costs(delay)[0]
    r2_no_command = 1 - costs(None)[0]
    shift = 0.5 * timestep
    return DelayEstimate(delay + shift, coarse + shift, period, float(r2), float(r2_no_command), tuple(pairs.items()),
                         lower=max(0.0, delay - 2 * std) + shift, upper=delay + 2 * std + shift, shift=shift)


class _Problem:
    """One log's regression: filtered accelerations and state regressors on a uniform grid."""

    def __init__(self, log: Log, pairs: Mapping[str, str], period: float, max_delay: float):
        t0, t1 = log.time[0], log.time[-1]
        self.grid = np.arange(t0, t1 + 0.5 * period, period)
        self.period = period
        self.window = max(7, int(round(_WINDOW_S / period)) | 1)
        n = len(self.grid)
        # Rows whose filter window and delayed command lie inside the log.
        first = self.window + int(np.ceil(max_delay / period)) + 1
        self.keep = slice(first, max(first, n - self.window))
        self.rows = max(0, self.keep.stop - self.keep.start)
        if self.rows == 0:
            self.targets, self.actuators = [], []
            return
        states = []
        q, qd, qdd = {}, {}, {}
        for joint in (j for j in log.pos if split_component(j) is None):  # a free or ball joint's coordinates: no regressor
            raw = np.interp(self.grid, log.time, log.pos[joint])
            q[joint], qd[joint], qdd[joint] = (self._filter(raw, k)[self.keep] for k in range(3))
            states += [q[joint], qd[joint], np.sin(q[joint]), np.cos(q[joint])]
        self.states = np.concatenate([_standard(np.stack(states, axis=1)), np.ones((self.rows, 1))], axis=1)
        self.targets, self.coupling = [], []
        for joint in dict.fromkeys(pairs.values()):
            if np.ptp(qdd[joint]) == 0:  # a joint that never accelerates tells nothing
                continue
            columns = [np.tanh(qd[joint] / (0.05 * np.std(qd[joint]) + 1e-12))]  # smooth Coulomb friction
            for other in q:
                if other != joint:
                    columns += [qdd[other], np.cos(q[other]) * qdd[other], np.sin(q[other]) * qd[other] ** 2,
                                np.cos(q[other]) * qd[other] ** 2]
            self.targets.append(qdd[joint])
            self.coupling.append(_standard(np.stack(columns, axis=1)))
        self.actuators = [(a, log.time, log.ctrl[a]) for a in pairs]
        block = np.minimum(np.arange(self.rows) * SEGMENTS // max(self.rows, 1), SEGMENTS - 1)
        edges = np.searchsorted(block, np.arange(SEGMENTS + 1))  # the jackknife blocks are contiguous rows
        self.blocks = [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]
        # Per block, the products of the regressors that do not depend on the delay (states and
        # coupling terms) and of the targets: a cost then needs only the delayed commands' products,
        # and the rows a jackknife mask leaves out are one block's share subtracted from the total.
        self.fixed = []
        for coupling, y in zip(self.coupling, self.targets):
            design = np.concatenate([self.states, coupling], axis=1)
            self.fixed.append((_per_block(self.blocks, design, design), _per_block(self.blocks, design, y),
                               _per_block(self.blocks, y, y), np.array([y[s].sum() for s in self.blocks]),
                               np.array([s.stop - s.start for s in self.blocks], float)))

    def _filter(self, x: np.ndarray, deriv: int = 0) -> np.ndarray:
        return savgol_filter(x, self.window, _POLYORDER, deriv=deriv, delta=self.period, mode="interp")

    def delayed(self, time: np.ndarray, command: np.ndarray, delay: float) -> np.ndarray:
        """The held command averaged over [t - delay - period/2, t - delay + period/2] at each grid time."""
        integral = np.concatenate([[0.0], np.cumsum(command[:-1] * np.diff(time))])
        def at(s):  # integral of the held command up to s; the first / last command holds outside
            return np.interp(s, time, integral) + np.minimum(s - time[0], 0) * command[0] + np.maximum(s - time[-1], 0) * command[-1]
        edges = self.grid - delay
        return (at(edges + 0.5 * self.period) - at(edges - 0.5 * self.period)) / self.period

    def costs(self, delay: float | None) -> np.ndarray:
        """(1 + SEGMENTS,) mean over joints of residual / total variance of the filtered acceleration,
        on all rows and then with each block left out."""
        out = np.ones(1 + SEGMENTS)
        if self.rows == 0 or not self.targets:
            return out
        commands = None
        if delay is not None:
            columns = [self._filter(self.delayed(t, u, delay))[self.keep] for _, t, u in self.actuators]
            commands = np.stack(columns, axis=1) / np.maximum([np.std(c) for c in columns], 1e-12)
        total = np.zeros(1 + SEGMENTS)
        if commands is not None:  # the commands' products with themselves and with the states, shared by all joints
            gram_c, cross_s = _per_block(self.blocks, commands, commands), _per_block(self.blocks, commands, self.states)
        for coupling, y, (gram_f, rhs_f, yy, ysum, count) in zip(self.coupling, self.targets, self.fixed):
            if commands is None:
                gram, rhs = gram_f, rhs_f
            else:  # the design [commands | states | coupling], block by block
                cross = np.concatenate([cross_s, _per_block(self.blocks, commands, coupling)], axis=2)
                gram = np.concatenate([np.concatenate([gram_c, cross], axis=2),
                                       np.concatenate([cross.transpose(0, 2, 1), gram_f], axis=2)], axis=1)
                rhs = np.concatenate([_per_block(self.blocks, commands, y), rhs_f], axis=1)
            for k in range(1 + SEGMENTS):  # k = 0: every row; k > 0: block k - 1 left out
                keep = slice(None) if k == 0 else np.arange(SEGMENTS) != k - 1
                g, b = gram[keep].sum(axis=0), rhs[keep].sum(axis=0)
                n, sy, syy = count[keep].sum(), ysum[keep].sum(), yy[keep].sum()
                total[k] += _residual_from_products(g, b, syy) / max(syy - sy**2 / max(n, 1), 1e-300)
        return total / len(self.targets)


def _per_block(blocks: list[slice], a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a^T b over each block's rows: (SEGMENTS, ...) for a (R, ca) or (R,), b (R, cb) or (R,)."""
    return np.stack([a[s].T @ b[s] for s in blocks])


def _residual_from_products(gram: np.ndarray, rhs: np.ndarray, yy: float) -> float:
    """Residual sum of squares of least squares y ~ design from design^T design, design^T y and y^T y,
    with a tiny ridge for rank-deficient columns (the same solve as on the rows themselves)."""
    ridged = gram.copy()
    ridged[np.diag_indices_from(ridged)] += 1e-10 * max(float(np.trace(gram)), 1e-300)
    coef = np.linalg.solve(ridged, rhs)
    return max(float(yy - 2 * coef @ rhs + coef @ gram @ coef), 0.0)


def _standard(columns: np.ndarray) -> np.ndarray:
    """(R, C) columns scaled to zero mean and unit standard deviation (constant ones stay 0)."""
    return (columns - columns.mean(axis=0)) / np.maximum(columns.std(axis=0), 1e-12)

