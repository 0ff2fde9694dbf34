"""Multiple-shooting rollout loss: logs cut into windows, each simulated from its logged state.

A `ShootingLoss` holds the windows of one horizon stage. Every window starts from the filtered
logged state at its first row (optionally refined by per-window offsets), runs the model for
the horizon on the model timestep, and is compared with the log at the logged times (linear
interpolation between model steps, so irregular timestamps are fine). Each residual is divided
by its signal's noise level, so a perfect model scores a mean square of about 1.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from sysid.errors import UserError
from sysid.measurement import Measurement
from sysid.floating import sub_quat
from sysid.sim import Simulator, control_integral, held_controls
from sysid.track import Track

DIVERGED_RESIDUAL = 1e4  # residual given to every entry of a diverged window (mean square 1e8)
CHUNK_BYTES = 8 * 2**20  # rollout outputs of one call are kept under this (states, sensors, controls)

ROBUST_LOSSES = ("linear", "huber", "soft_l1", "cauchy")
ROBUST_SCALE = 3.0  # noise levels: a robust loss is quadratic below about this residual


def robust_residuals(r: np.ndarray, loss: str, scale: float = ROBUST_SCALE) -> np.ndarray:
    """Normalised residuals r -> sign(r) sqrt(2 rho(r)), so that their sum of squares / 2 is the
    robust loss sum rho(r) (scipy.optimize.least_squares' losses, with f_scale = `scale`). Every
    optimizer (CMA-ES on the mean square, least squares on the residuals) then sees the same loss;
    a large residual (an outlier) grows like sqrt(|r|) (huber, soft_l1) or log|r| (cauchy), not |r|.

    Args:
      r: (...) residuals in noise levels.
      loss: "linear" (r unchanged), "huber", "soft_l1" or "cauchy".
    """
    if loss == "linear":
        return r
    z = (r / scale) ** 2
    if loss == "huber":
        rho = np.where(z <= 1, z, 2 * np.sqrt(z) - 1)
    elif loss == "soft_l1":
        rho = 2 * (np.sqrt(1 + z) - 1)
    elif loss == "cauchy":
        rho = np.log1p(z)
    else:
        raise ValueError(f"unknown loss {loss!r}; losses: {', '.join(ROBUST_LOSSES)}")
    return np.sign(r) * scale * np.sqrt(rho)


@dataclasses.dataclass(frozen=True)
class Windows:
    """The windows of one stage, flattened over all tracks.

    Attributes:
      track: (W,) which track each window belongs to.
      start: (W,) first log row of each window.
      nstep: model steps simulated per window.
      entry_window, entry_step, entry_frac, entry_state: (m,) for every compared (row, signal):
        its window, the model step before it, the interpolation weight of the step after it,
        and the state entry it is compared with.
      entry_target, entry_sigma: (m,) the logged value and its noise level.
      entry_track, entry_row, entry_signal: (m,) where the entry comes from, for reports.
      entry_sensor: (m,) the sensordata entry an MJCF sensor signal is compared with, -1 for state entries.
      rot_entry: (G,) the first of the three entries of every compared orientation (a free or ball
        joint's `J.rot[k]` at one row; their entry_state is the joint's qw), increasing.
      rot_quat: (G, 4) the logged quaternion each is compared with.
    """

    track: np.ndarray
    start: np.ndarray
    nstep: int
    entry_window: np.ndarray
    entry_step: np.ndarray
    entry_frac: np.ndarray
    entry_state: np.ndarray
    entry_target: np.ndarray
    entry_sigma: np.ndarray
    entry_track: np.ndarray
    entry_row: np.ndarray
    entry_signal: np.ndarray
    entry_sensor: np.ndarray
    rot_entry: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.int64))
    rot_quat: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 4)))


def make_windows(tracks: list[Track], horizon: float, dt: float, *, max_windows: int | None = None) -> Windows:
    """Cut tracks into back-to-back windows of `horizon` seconds (the last may be shorter).

    With `max_windows`, keep that many, evenly spread over all windows, to bound the cost of
    early stages. `dt` is the model timestep in seconds.
    """
    nstep = int(np.ceil(horizon / dt - 1e-9))
    reach = nstep * dt * (1 + 1e-9)  # a window compares the rows up to this far after its start
    starts: list[tuple[int, int, int]] = []  # (track, first row, one past its last compared row)
    for t, track in enumerate(tracks):
        row = 0
        while row < len(track.time) - 1:
            end = int(np.searchsorted(track.time, track.time[row] + reach, side="right"))
            starts.append((t, row, end))
            # The next window starts at this one's last compared row, so no row is compared twice.
            row = max(end - 1, row + 1)
    if max_windows is not None and len(starts) > max_windows:
        keep = np.unique(np.round(np.linspace(0, len(starts) - 1, max_windows)).astype(int))
        starts = [starts[i] for i in keep]
    # Filled in place, indices as int32: a long log has millions of entries, each kept for the whole fit.
    sizes = [(end - row - 1) * len(tracks[t].signals) for t, row, end in starts]
    total = int(sum(sizes))
    ints, floats = ("window", "step", "state", "track", "row", "signal", "sensor"), ("frac", "target", "sigma")
    flat = {k: np.empty(total, np.int32) for k in ints} | {k: np.empty(total) for k in floats}
    flat["sensor"][:] = -1
    at = 0
    rot_entry, rot_quat = [], []
    for w, ((t, row, end), size) in enumerate(zip(starts, sizes)):
        track = tracks[t]
        rows = np.arange(row + 1, end)  # the rows after the window's first, up to its reach
        position = np.minimum((track.time[rows] - track.time[row]) / dt, nstep)
        step = np.minimum(np.floor(position).astype(int), nstep - 1)
        nsig = len(track.signals)
        part = slice(at, at + size)
        flat["window"][part] = w
        flat["step"][part] = np.repeat(step, nsig)
        flat["frac"][part] = np.repeat(position - step, nsig)
        flat["state"][part] = np.tile(track.state_index, rows.size)
        flat["target"][part] = track.values[rows].ravel()
        flat["sigma"][part] = np.tile(track.sigma, rows.size)
        flat["track"][part] = t
        flat["row"][part] = np.repeat(rows, nsig)
        flat["signal"][part] = np.tile(np.arange(nsig), rows.size)
        if track.sensor.any():
            _sensor_rows(flat, part, track, row, rows, dt, nstep)
        for o in track.orientations:
            rot_entry.append(at + np.arange(rows.size) * nsig + o.signal)
            rot_quat.append(o.quat[rows])
        at += size
    return Windows(
        track=np.array([t for t, _, _ in starts], int),
        start=np.array([r for _, r, _ in starts], int),
        nstep=nstep,
        **{f"entry_{k}": v for k, v in flat.items()},
        **_orientation_entries(rot_entry, rot_quat),
    )


def _sensor_rows(flat: dict[str, np.ndarray], part: slice, track: Track, row: int, rows: np.ndarray, dt: float,
                 nstep: int) -> None:
    """Point a window's MJCF sensor entries at the rows one earlier, from the window's first to the one
    before its last: the rollout's sensordata at step k is computed at the state before that step, so
    step 0 holds the window start's and none the end's. Their state entry becomes 0 (read, then replaced)."""
    columns = np.flatnonzero(track.sensor)
    earlier = rows - 1
    position = (track.time[earlier] - track.time[row]) / dt
    step = np.minimum(np.floor(position).astype(int), nstep - 1)
    at = part.start + np.arange(len(rows))[:, None] * len(track.signals) + columns[None, :]  # (R, sensors)
    flat["step"][at], flat["frac"][at] = step[:, None], (position - step)[:, None]
    flat["target"][at], flat["row"][at] = track.values[earlier][:, columns], earlier[:, None]
    flat["sensor"][at], flat["state"][at] = track.state_index[columns][None, :], 0
def _orientation_entries(rot_entry: list[np.ndarray], rot_quat: list[np.ndarray]) -> dict[str, np.ndarray]:
    """`Windows.rot_entry` and `rot_quat`, sorted by entry, from the pieces `make_windows` collects."""
    if not rot_entry:
        return {}
    entry, quat = np.concatenate(rot_entry), np.concatenate(rot_quat)
    order = np.argsort(entry, kind="stable")
    return {"rot_entry": entry[order], "rot_quat": quat[order]}


def _interpolate(states: np.ndarray, initial: np.ndarray, nstep: int, nstate: int, window: np.ndarray, step: np.ndarray,
                 frac: np.ndarray, state: np.ndarray) -> np.ndarray:
    """Simulated state entries between model steps.

    Args:
      states: (C, W * nstep * nstate) rollout states; initial: (C, W * nstate) window start states.
      window, step, frac, state: (m,) each entry's window, model step, weight of the next step and state entry.
    Returns:
      (C, m): entry k interpolates between the states at steps k and k + 1; step 0 is the initial state.
    """
    hi = np.take(states, (window * nstep + step) * nstate + state, axis=1)
    lo = np.take(states, (window * nstep + np.maximum(step - 1, 0)) * nstate + state, axis=1)
    first = np.flatnonzero(step == 0)
    lo[:, first] = np.take(initial, window[first] * nstate + state[first], axis=1)
    return lo + frac * (hi - lo)


class ShootingLoss:
    """Normalised residuals of candidate parameter values over one stage's windows.

    Args:
      sim: the simulator (model, parameters, thread pool).
      tracks: the bound logs.
      horizon: s, window length.
      max_windows: keep at most this many windows (evenly spread).
      robust: the loss on the normalised residuals: "linear" (least squares) or a robust one,
        "huber", "soft_l1", "cauchy" (see `robust_residuals`), against outliers in the logs.
    """

    def __init__(self, sim: Simulator, tracks: list[Track], horizon: float, *, max_windows: int | None = None,
                 robust: str = "linear"):
        self.sim = sim
        self.robust = robust
        self.tracks = tracks
        self.horizon = horizon
        self.max_windows = max_windows
        dt = sim.model.opt.timestep
        self.windows = win = make_windows(tracks, horizon, dt, max_windows=max_windows)
        self.n_windows = len(win.track)
        self.m = len(win.entry_target)
        self.initial = sim.initial_states(
            np.stack([tracks[t].qpos[r] for t, r in zip(win.track, win.start)]),
            np.stack([tracks[t].qvel[r] for t, r in zip(win.track, win.start)]),
        )
        nx = {len(tr.refine_index) for tr in tracks}
        if len(nx) != 1:
            raise ValueError("all logs of one fit must log the same joints")
        self.refine_index = np.stack([tracks[t].refine_index for t in win.track])  # (W, nx)
        self.refine_scale = np.stack([tracks[t].refine_scale for t in win.track])  # (W, nx)
        self.nx = self.refine_index.shape[1]
        self._starts = np.array([tracks[t].time[r] for t, r in zip(win.track, win.start)])
        # Entries are stored window after window: window w's are entry_bounds[w]:entry_bounds[w + 1].
        self.entry_bounds = np.searchsorted(win.entry_window, np.arange(self.n_windows + 1))
        self._integrals = [control_integral(track.time, track.ctrl) for track in tracks]
        self._fixed_controls = None if sim.params.delay_index is not None else self.controls(0.0)
        self._tiled_controls: dict[tuple, np.ndarray] = {}  # (C, w0, w1) -> (C, w1 - w0, nstep, nu) fixed controls
        # (m,) True for entries of MJCF sensors (None: none), and the measurement parameters acting on entries
        self._sensor_entries = (self.windows.entry_sensor >= 0) if any(t.sensor.any() for t in tracks) else None
        if self._sensor_entries is not None and sim.loop is not None:
            raise UserError("MJCF sensor columns cannot be fitted with an actuator model or residual in the loop yet; "
                            "drop the sensor columns or the --actuator / residual")
        self.measurement = Measurement(sim.params, tracks, self.windows.entry_track, self.windows.entry_signal)

    def chunks(self, ncand: int) -> list[tuple[int, int]]:
        """Window ranges [w0, w1) whose rollout of `ncand` candidates fits in CHUNK_BYTES of states."""
        per_window = ncand * self.windows.nstep * (self.sim.nstate + self.sim.model.nsensordata + self.sim.model.nu) * 8
        size = max(1, int(CHUNK_BYTES // max(per_window, 1)))
        return [(w0, min(w0 + size, self.n_windows)) for w0 in range(0, self.n_windows, size)]

    def controls(self, delay: float, windows: tuple[int, int] | None = None) -> np.ndarray:
        """(W, nstep, nu) controls of every window (or of windows [w0, w1)) for an actuation delay in seconds."""
        dt = self.sim.model.opt.timestep
        w0, w1 = (0, self.n_windows) if windows is None else windows
        out = np.empty((w1 - w0, self.windows.nstep, self.sim.model.nu))
        which = self.windows.track[w0:w1]
        for t, track in enumerate(self.tracks):
            mine = which == t
            if mine.any():
                out[mine] = held_controls(track.time, track.ctrl, self._starts[w0:w1][mine], self.windows.nstep, dt, delay,
                                          integral=self._integrals[t])
        return out

    def simulate(self, values: np.ndarray, offsets: np.ndarray | None = None, *,
                 windows: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Simulated value of every entry for C candidates, in rollouts of bounded size (`chunks`).

        Args:
          values: (C, n) parameter values.
          offsets: optional (C, W, nx) window start-state refinements, in units of refine_scale
            (W: the windows simulated).
          windows: simulate windows [w0, w1) only (default: all).
        Returns:
          (C, m) simulated entries (of those windows) and (C, W) False where a window diverged.
        """
        if windows is None:
            parts = [self.simulate(values, None if offsets is None else offsets[:, w0:w1], windows=(w0, w1))
                     for w0, w1 in self.chunks(len(values))]
            if len(parts) == 1:
                return parts[0]
            return np.concatenate([p[0] for p in parts], axis=1), np.concatenate([p[1] for p in parts], axis=1)
        w0, w1 = windows
        e0, e1 = self.entry_bounds[w0], self.entry_bounds[w1]
        ncand, nwin, win, nstate = len(values), w1 - w0, self.windows, self.sim.nstate
        models = self.sim.candidate_models(values)
        batch_models = [model for model in models for _ in range(nwin)]
        initial = np.repeat(self.initial[None, w0:w1], ncand, axis=0)  # (C, W, nstate)
        self.measurement.correct_starts(values, initial)  # encoder offsets: start from the true positions
        if offsets is not None:
            rows = np.arange(nwin)[:, None]
            initial[:, rows, self.refine_index[w0:w1]] += offsets * self.refine_scale[w0:w1]
        if self._fixed_controls is not None:
            # Tiled once per batch shape (the 3 used last are kept): a copy per call costs a pass.
            key = (ncand, w0, w1)
            control = self._tiled_controls.pop(key, None)
            if control is None:
                control = np.tile(self._fixed_controls[w0:w1], (ncand, 1, 1, 1))
                control.flags.writeable = False  # shared by later calls
                for old in list(self._tiled_controls)[:-2]:
                    del self._tiled_controls[old]
            self._tiled_controls[key] = control
        else:
            control = np.stack([self.controls(float(v[self.sim.params.delay_index]), (w0, w1)) for v in values])
        loop = self.sim.loop is not None  # an actuator model or residual reads each row's values and log
        states, ok = self.sim.rollout(
            batch_models, initial.reshape(ncand * nwin, -1), control.reshape(ncand * nwin, win.nstep, -1),
            values=np.repeat(values, nwin, axis=0) if loop else None,
            sources=[self.tracks[t].source for t in win.track[w0:w1]] * ncand if loop else None,
            reuse=True,
        )
        window, step, frac = win.entry_window[e0:e1] - w0, win.entry_step[e0:e1], win.entry_frac[e0:e1]
        states, initial = states.reshape(ncand, -1), initial.reshape(ncand, -1)
        simulated = _interpolate(states, initial, win.nstep, nstate, window, step, frac, win.entry_state[e0:e1])
        g0, g1 = np.searchsorted(win.rot_entry, [e0, e1])
        if g1 > g0:  # orientations: the rotation vector from the logged to the simulated quaternion
            first = win.rot_entry[g0:g1] - e0
            quat = np.stack([_interpolate(states, initial, win.nstep, nstate, window[first], step[first], frac[first],
                                          win.entry_state[e0:e1][first] + c) for c in range(4)], axis=-1)
            quat /= np.linalg.norm(quat, axis=-1, keepdims=True)
            error = sub_quat(quat, win.rot_quat[g0:g1])  # (C, G, 3)
            for k in range(3):
                simulated[:, first + k] = win.entry_target[e0 + first + k] + error[..., k]
        return self._observed(values, simulated, window, step, e0, e1), ok.reshape(ncand, nwin)

    def _observed(self, values: np.ndarray, simulated: np.ndarray, window: np.ndarray, step: np.ndarray,
                  e0: int, e1: int) -> np.ndarray:
        """(C, e1 - e0) simulated entries -> what the robot would log: MJCF sensor entries read from the
        rollout's sensordata, then the measurement parameters applied (`sysid.measurement`), in place."""
        sensor = self._sensor_entries[e0:e1] if self._sensor_entries is not None else None
        if sensor is not None and sensor.any():
            simulated[:, sensor] = self._sensor_values(values, sensor, window, step, e0, e1)
        return self.measurement.logged(values, simulated, slice(e0, e1))

    def _sensor_values(self, values: np.ndarray, sensor: np.ndarray, window: np.ndarray, step: np.ndarray,
                       e0: int, e1: int) -> np.ndarray:
        """(C, k) simulated sensordata of the sensor entries among [e0, e1) (mask `sensor`), read from the
        last rollout: sensordata[k] is computed at the state of model step k (the window start for 0),
        interpolated at each entry's time minus the candidate's sensor delay."""
        win, nsd = self.windows, self.sim.model.nsensordata
        data = self.sim.sensors.reshape(len(values), -1)  # (C, W * nstep * nsensordata)
        position = (step + win.entry_frac[e0:e1])[sensor]
        which = np.flatnonzero(sensor) + e0
        at, weight = self.measurement.sensor_positions(values, position, which, self.sim.model.opt.timestep, win.nstep)
        i0 = np.floor(at).astype(int)
        i1 = np.minimum(i0 + 1, win.nstep - 1)
        base = window[sensor] * win.nstep
        entry = win.entry_sensor[e0:e1][sensor]
        v0 = np.take_along_axis(data, (base + i0) * nsd + entry, axis=1)
        v1 = np.take_along_axis(data, (base + i1) * nsd + entry, axis=1)
        simulated = v0 + (at - i0) * (v1 - v0)
        if (weight < 1).any():  # a delayed sensor before the window start: compared as the log (no residual)
            target = self.measurement.unlogged(values, win.entry_target[e0:e1][sensor], which)
            simulated = weight * simulated + (1 - weight) * target
        return simulated

    def residuals(self, values: np.ndarray, offsets: np.ndarray | None = None, *,
                  windows: tuple[int, int] | None = None) -> np.ndarray:
        """(C, n) values [, (C, W, nx) offsets] -> (C, m) residuals (simulated - logged) / sigma.

        `windows`: only the entries of windows [w0, w1) (offsets then hold those windows').
        """
        w0, w1 = (0, self.n_windows) if windows is None else windows
        e0, e1 = self.entry_bounds[w0], self.entry_bounds[w1]
        simulated, ok = self.simulate(values, offsets, windows=windows)
        r = robust_residuals((simulated - self.windows.entry_target[e0:e1]) / self.windows.entry_sigma[e0:e1], self.robust)
        if not (ok.all() and np.isfinite(r).all()):
            bad = ~ok[:, self.windows.entry_window[e0:e1] - w0] | ~np.isfinite(r)
            r[bad] = DIVERGED_RESIDUAL
        return r

    def rmse(self, simulated: np.ndarray) -> dict[str, float]:
        """(m,) simulated entries -> RMSE of each signal name over all tracks (signal units)."""
        win = self.windows
        names = list(dict.fromkeys(name for track in self.tracks for name in track.signals))
        # (track, signal) -> index of its name, then one bincount over the entries.
        table = np.full((len(self.tracks), max(len(track.signals) for track in self.tracks)), -1)
        for t, track in enumerate(self.tracks):
            table[t, : len(track.signals)] = [names.index(name) for name in track.signals]
        which = table[win.entry_track, win.entry_signal]
        squares = np.bincount(which, weights=(simulated - win.entry_target) ** 2, minlength=len(names))
        counts = np.bincount(which, minlength=len(names))
        return {name: float(np.sqrt(squares[i] / counts[i])) for i, name in enumerate(names) if counts[i]}
