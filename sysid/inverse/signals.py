"""Logged motion and torque for inverse dynamics: a uniform grid, a zero-phase low-pass filter,
velocities and accelerations by central differences of the filtered positions, decimation.

The measured torque goes through the same zero-phase filter as the positions, so the torque and
the accelerations it is compared with see the same (zero) phase and the same attenuation. The
friction columns, which are far from linear in the velocity (a smoothed sign), are computed at the
log's full rate and then filtered like the torque (Gautier's parallel filtering): the filtered
torque of a Coulomb friction is the filtered sign, not the sign of the filtered velocity. Single
samples of the effort far from their neighbours (sensor glitches) are replaced by the running median
before filtering, and counted in the report. After the filter, samples closer than the cut-off's period carry
little new information: rows are kept at about `KEEP_PER_CUTOFF` times the cut-off frequency.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import mujoco
import numpy as np
from scipy import signal

from sysid.data import Log
from sysid.errors import UserError
from sysid.inverse.friction import LINEAR, column

SPIKE_LEVEL = 12.0  # an effort sample this many robust noise levels from its 5-sample running median is a spike
KEEP_PER_CUTOFF = 4.0  # rows kept per second per Hz of cut-off (the filtered signal's content ends there)
EDGE_PERIODS = 2.0  # cut-off periods dropped at each end of a log (filtfilt's transients)


@dataclasses.dataclass(frozen=True)
class FilterSpec:
    """How positions and torques are filtered before inverse dynamics.

    Attributes:
      method: "butterworth" (zero-phase `scipy.signal.filtfilt`, then central differences) or
        "savgol" (Savitzky-Golay value, first and second derivative, cubic, window = 1 / cut-off).
      cutoff_hz: Hz, the low-pass cut-off (None: 10 Hz, at most 0.2 x the sampling rate).
      order: the Butterworth filter's order.
      block_s: s, length of the contiguous windows the robust intervals resample (None: 1 s, shorter
        where a log set would otherwise give fewer than 10 windows).
    """

    method: str = "butterworth"
    cutoff_hz: float | None = None
    order: int = 4
    block_s: float | None = None

    def __post_init__(self):
        if self.method not in ("butterworth", "savgol"):
            raise UserError(f"config: inverse.filter.method must be butterworth or savgol, got {self.method!r}")
        if self.cutoff_hz is not None and not (isinstance(self.cutoff_hz, (int, float)) and self.cutoff_hz > 0):
            raise UserError(f"config: inverse.filter.cutoff_hz must be a positive number of Hz, got {self.cutoff_hz!r}")
        if not (isinstance(self.order, int) and 1 <= self.order <= 8):
            raise UserError(f"config: inverse.filter.order must be a whole number 1..8, got {self.order!r}")


@dataclasses.dataclass(frozen=True)
class Samples:
    """Filtered motion and torque at the kept rows of every log, stacked.

    Attributes:
      q: (N, nq) positions; qd, qdd: (N, nv) velocities and accelerations (rad/s, rad/s^2 or m/s, m/s^2).
      tau: (N, k) filtered measured effort of the `dofs` (N m or N).
      friction: linear friction model -> (N, k) its column (`sysid.inverse.friction.column`) of each
        joint with an effort, computed at the full rate and filtered like `tau`.
      dofs: (k,) dof indices of the joints with an `.effort` column; joints: their names.
      time: (N,) s, each row's time in its log; log: (N,) index of the log; block: (N,) index of
        the resampling window (unique across logs).
      filter: what was done, for result.json (method, cut-off, order, rates, windows).
    """

    q: np.ndarray
    qd: np.ndarray
    qdd: np.ndarray
    tau: np.ndarray
    friction: dict[str, np.ndarray]
    dofs: np.ndarray
    joints: tuple[str, ...]
    time: np.ndarray
    log: np.ndarray
    block: np.ndarray
    filter: dict


def effort_joints(model: mujoco.MjModel, logs: Sequence[Log]) -> list[str]:
    """Names of the hinge and slide joints with an `.effort` column in every log (model order);
    UserError when there is none or a joint of the model is not logged."""
    names = [model.joint(j).name for j in range(model.njnt)]
    for j, name in enumerate(names):
        if int(model.jnt_type[j]) not in (int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE)):
            raise UserError(f"--objective inverse: joint {name!r} is a free or ball joint; inverse dynamics here needs hinge and slide joints")
        for log in logs:
            if name not in log.pos:
                raise UserError(f"{log.source}: no column '{name}.pos' (inverse dynamics needs every joint's position)")
    joints = [n for n in names if all(n in log.effort for log in logs)]
    if not joints:
        raise UserError(f"{logs[0].source}: no '<joint>.effort' column of a model joint in every log; --objective inverse "
                        f"compares measured joint torques (joints: {', '.join(names)})")
    return joints


def prepare(model: mujoco.MjModel, logs: Sequence[Log], spec: FilterSpec = FilterSpec(),
            friction: Sequence[str] = LINEAR) -> Samples:
    """Resample, filter, differentiate and decimate every log (see the module docstring);
    `friction`: the linear friction models whose columns are filtered in parallel."""
    joints = effort_joints(model, logs)
    names = [model.joint(j).name for j in range(model.njnt)]
    dofs = np.array([model.joint(n).dofadr[0] for n in joints])
    rates = [1.0 / float(np.median(np.diff(log.time))) for log in logs]
    cutoff = float(spec.cutoff_hz) if spec.cutoff_hz is not None else min(10.0, 0.2 * min(rates))
    total = sum(log.duration for log in logs)
    block_s = float(spec.block_s) if spec.block_s is not None else min(1.0, total / 10)
    parts, nblock, spikes = [], 0, 0
    for k, (log, rate) in enumerate(zip(logs, rates)):
        if cutoff >= 0.5 * rate:
            raise UserError(f"{log.source}: cut-off {cutoff:g} Hz is not below half the sampling rate {rate:.4g} Hz "
                            f"(set inverse.filter.cutoff_hz lower)")
        dt = 1.0 / rate
        grid = np.arange(log.time[0], log.time[-1] + 0.5 * dt, dt)[: max(2, int(round(log.duration * rate)) + 1)]
        pos = np.stack([np.interp(grid, log.time, log.pos[n]) for n in names], 1)
        eff, found = _despiked(np.stack([np.interp(grid, log.time, log.effort[n]) for n in joints], 1))
        spikes += found
        q, qd, qdd, tau = _filtered(pos, eff, dt, cutoff, spec)
        eff_dofs = [names.index(n) for n in joints]
        cols = [_lowpass(column(m, qd[:, eff_dofs]), dt, cutoff, spec) for m in friction]
        edge = int(np.ceil(EDGE_PERIODS / (cutoff * dt)))
        step = max(1, int(rate / (KEEP_PER_CUTOFF * cutoff)))
        keep = np.arange(edge, len(grid) - edge, step)
        if len(keep) < 2:
            raise UserError(f"{log.source}: {log.duration:.3g} s is too short for a {cutoff:g} Hz filter "
                            f"(its edges drop {EDGE_PERIODS / cutoff:.3g} s at each end)")
        t = grid[keep] - grid[0]
        block = nblock + np.floor(t / block_s).astype(int)
        nblock = int(block.max()) + 1
        parts.append((q[keep], qd[keep], qdd[keep], tau[keep], t, np.full(len(keep), k), block, *(c[keep] for c in cols)))
    qpos_of = np.array([model.jnt_qposadr[model.joint(n).id] for n in names])
    dof_of = np.array([model.jnt_dofadr[model.joint(n).id] for n in names])
    q, qd, qdd = (np.zeros((sum(len(p[0]) for p in parts), w)) for w in (model.nq, model.nv, model.nv))
    stacked = [np.concatenate([p[i] for p in parts]) for i in range(7)]
    q[:, qpos_of], qd[:, dof_of], qdd[:, dof_of] = stacked[0], stacked[1], stacked[2]
    info = {"method": spec.method, "cutoff_hz": cutoff, "order": spec.order if spec.method == "butterworth" else 3,
            "zero_phase": True, "torque_filtered": True, "friction_columns": "computed at the full rate, then filtered like the torque", "sample_rate_hz": rates, "rows_per_s": min(rates) / max(1, int(min(rates) / (KEEP_PER_CUTOFF * cutoff))),
            "edge_s": EDGE_PERIODS / cutoff, "block_s": block_s, "blocks": nblock,
            "effort_spikes_replaced": spikes, "spike_level": SPIKE_LEVEL}
    columns = {m: np.concatenate([p[7 + i] for p in parts]) for i, m in enumerate(friction)}
    return Samples(q, qd, qdd, stacked[3], columns, dofs, tuple(joints), stacked[4], stacked[5].astype(int), stacked[6], info)


def _filtered(pos: np.ndarray, eff: np.ndarray, dt: float, cutoff: float, spec: FilterSpec):
    """(T, nj) positions, (T, k) efforts on a uniform grid -> filtered q, qd, qdd, tau."""
    if spec.method == "savgol":
        window = max(5, int(round(1.0 / (cutoff * dt))) | 1)
        window = min(window, (len(pos) - 1) | 1 if len(pos) % 2 == 0 else len(pos))
        if window < 5:
            raise UserError(f"a log of {len(pos)} rows is too short for a Savitzky-Golay filter")
        sg = lambda x, d: signal.savgol_filter(x, window, 3, deriv=d, delta=dt, axis=0, mode="interp")  # noqa: E731
        return sg(pos, 0), sg(pos, 1), sg(pos, 2), sg(eff, 0)
    b, a = signal.butter(spec.order, cutoff * 2 * dt)
    if len(pos) <= 3 * max(len(a), len(b)):
        raise UserError(f"a log of {len(pos)} rows is too short for a Butterworth filter of order {spec.order}")
    q = signal.filtfilt(b, a, pos, axis=0)
    qd = np.gradient(q, dt, axis=0)
    return q, qd, np.gradient(qd, dt, axis=0), signal.filtfilt(b, a, eff, axis=0)


def _despiked(effort: np.ndarray) -> tuple[np.ndarray, int]:
    """(T, k) efforts with single-sample spikes (sensor glitches, `SPIKE_LEVEL`) replaced by the running
    median, and how many there were: a filter would smear each spike over a cut-off period."""
    median = signal.medfilt(effort, [5, 1]) if len(effort) >= 5 else effort
    resid = effort - median
    scale = 1.4826 * np.median(np.abs(resid), axis=0)
    spike = np.abs(resid) > SPIKE_LEVEL * np.maximum(scale, 1e-12 * np.abs(effort).max(axis=0) + 1e-300)
    return np.where(spike, median, effort), int(spike.sum())


def _lowpass(x: np.ndarray, dt: float, cutoff: float, spec: FilterSpec) -> np.ndarray:
    """(T, ...) -> the same zero-phase low-pass `_filtered` applies to the torque."""
    if spec.method == "savgol":
        return _filtered(x, x, dt, cutoff, spec)[3]
    b, a = signal.butter(spec.order, cutoff * 2 * dt)
    return signal.filtfilt(b, a, x, axis=0)
