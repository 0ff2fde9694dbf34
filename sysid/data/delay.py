"""Estimating the command-to-response transport delay of a robot from its logs.

Model: each actuated joint's acceleration is, locally, linear in the delayed command and in the
joint states, a(t) = k u(t - d) + b . [q, qd, sin q, cos q, 1] (a torque motor, a position servo,
a motor on a cart all fit this shape). For a delay d every term is filtered with the same zero-phase
Savitzky-Golay filter (so filtering shifts nothing) and the coefficients come from least squares;
the delay is the d that leaves the smallest residual. A scan over whole samples (the partial
correlation of the command with the acceleration, i.e. a cross-correlation that first removes
what the states explain) finds the coarse delay; a bounded 1-D minimisation around it refines it
below one sample, the delayed command being the held command averaged over one sample period
(continuous in d).

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

_POLYORDER = 3
_WINDOW_S = 0.05  # s, filter window (at least 7 samples)
INFORMATIVE_GAIN = 0.01  # the command must explain this much more variance for the estimate to count


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
    """

    delay: float
    coarse: float
    sample_period: float
    r2: float
    r2_no_command: float
    pairs: tuple[tuple[str, str], ...]

    @property
    def informative(self) -> bool:
        """True when the command explains a noticeable part of the response (r2 gain >= 0.01);
        smooth commands or noisy positions leave the delay poorly determined."""
        return self.r2 - self.r2_no_command >= INFORMATIVE_GAIN

    def as_dict(self) -> dict:
        """Plain data for result.json."""
        return {"value": self.delay, "coarse": self.coarse, "sample_period": self.sample_period, "r2": self.r2,
                "r2_no_command": self.r2_no_command, "informative": self.informative, "pairs": [list(p) for p in self.pairs]}


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

    def cost(d: float) -> float:
        return sum(p.cost(d) for p in problems) / len(problems)

    lags = np.arange(0, max_delay * (1 + 1e-9), period)
    scan = np.array([cost(d) for d in lags])
    coarse = float(lags[int(np.argmin(scan))])
    lo, hi = max(0.0, coarse - period), min(max_delay, coarse + period)
    refined = minimize_scalar(cost, bounds=(lo, hi), method="bounded", options={"xatol": 1e-3 * period}) if hi > lo else None
    delay = float(refined.x) if refined is not None and refined.fun <= cost(coarse) else coarse
    r2 = 1 - cost(delay)
    r2_no_command = 1 - sum(p.cost(None) for p in problems) / len(problems)
    shift = 0.5 * timestep
    return DelayEstimate(delay + shift, coarse + shift, period, float(r2), float(r2_no_command), tuple(pairs.items()))


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
        accelerations = {}
        for joint in dict.fromkeys(log.pos):
            q = np.interp(self.grid, log.time, log.pos[joint])
            states += [self._filter(q), self._filter(q, 1), np.sin(self._filter(q)), np.cos(self._filter(q))]
            accelerations[joint] = self._filter(q, 2)
        states = np.stack([s[self.keep] for s in states], axis=1)
        states = (states - states.mean(axis=0)) / np.maximum(states.std(axis=0), 1e-12)
        self.states = np.concatenate([states, np.ones((self.rows, 1))], axis=1)
        targets = [accelerations[j][self.keep] for j in dict.fromkeys(pairs.values())]
        self.targets = [y for y in targets if np.ptp(y) > 0]  # a joint that never accelerates tells nothing
        self.actuators = [(a, log.time, log.ctrl[a]) for a in pairs]

    def _filter(self, x: np.ndarray, deriv: int = 0) -> np.ndarray:
        return savgol_filter(x, self.window, _POLYORDER, deriv=deriv, delta=self.period, mode="interp")

    def delayed(self, time: np.ndarray, command: np.ndarray, delay: float) -> np.ndarray:
        """The held command averaged over [t - delay - period/2, t - delay + period/2] at each grid time."""
        integral = np.concatenate([[0.0], np.cumsum(command[:-1] * np.diff(time))])
        def at(s):  # integral of the held command up to s; the first / last command holds outside
            return np.interp(s, time, integral) + np.minimum(s - time[0], 0) * command[0] + np.maximum(s - time[-1], 0) * command[-1]
        edges = self.grid - delay
        return (at(edges + 0.5 * self.period) - at(edges - 0.5 * self.period)) / self.period

    def cost(self, delay: float | None) -> float:
        """Mean over joints of residual / total variance of the filtered acceleration."""
        if self.rows == 0 or not self.targets:
            return 1.0
        columns = [self.states]
        if delay is not None:
            commands = [self._filter(self.delayed(t, u, delay))[self.keep] for _, t, u in self.actuators]
            columns.append(np.stack(commands, axis=1) / np.maximum([np.std(c) for c in commands], 1e-12))
        design = np.concatenate(columns, axis=1)
        total = 0.0
        for y in self.targets:
            coef, *_ = np.linalg.lstsq(design, y, rcond=None)
            total += float(np.sum((y - design @ coef) ** 2) / max(np.sum((y - y.mean()) ** 2), 1e-300))
        return total / len(self.targets)

