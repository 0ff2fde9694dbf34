"""Measurement parameters: encoder offsets and sensor gain, bias and delay, applied to simulated signals.

They change what the robot logs, not how it moves, so they are never written into the model:

* `offset@J` (rad or m): logged position = true position + offset. A window starts from the
  logged position minus the candidate's offset, and the simulated position plus the offset is
  compared with the log.
* `sensor_gain@S`, `sensor_bias@S` (sensor unit), `sensor_delay@S` (s, fractional):
  logged sensor = gain x simulated(t - delay) + bias, the delayed value interpolated between model
  steps inside the window; rows whose delayed time falls before the window start are not compared
  (their weight falls from 1 to 0 over one model step, so the loss stays continuous in the delay).

`Measurement` holds, for every compared entry of a stage, which parameter acts on it; it is built
once per `sysid.loss.ShootingLoss`. result.json records the fitted values like every other
parameter; calibrated.xml is unchanged by them (MuJoCo has no native encoder offset or sensor gain).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sysid.errors import UserError
from sysid.floating import split_component
from sysid.params import MEASUREMENT_KINDS as KINDS
from sysid.params import ParamSet
from sysid.track import Track
def sensor_of(signal: str) -> str:
    """A sensor column -> its sensor's name: `gyro[2]` -> `gyro`, `torque` -> `torque`."""
    return (split_component(signal) or (signal,))[0]


class Measurement:
    """The measurement parameters acting on every entry of a stage's windows.

    Args:
      params: the fitted parameters.
      tracks: the stage's tracks.
      entry_track, entry_signal: (m,) the track and signal of every compared entry.
    """

    def __init__(self, params: ParamSet, tracks: Sequence[Track], entry_track: np.ndarray, entry_signal: np.ndarray):
        index = {(p.kind, p.target): i for i, p in enumerate(params) if p.kind in KINDS}
        self.active = bool(index)
        if not self.active:
            return
        nsig = max(len(t.signals) for t in tracks)
        table = {kind: np.full((len(tracks), nsig), -1) for kind in KINDS}  # (track, signal) -> parameter or -1
        self.offset_param, self.offset_state = [], []  # offset parameters and the start-state entries they move
        for t, track in enumerate(tracks):
            for s, signal in enumerate(track.signals):
                if track.sensor.size and track.sensor[s]:
                    for kind in KINDS[1:]:
                        table[kind][t, s] = index.get((kind, sensor_of(signal)), -1)
                elif signal.endswith(".pos"):
                    table["offset"][t, s] = index.get(("offset", signal[: -len(".pos")]), -1)
        for (kind, target), i in index.items():
            if kind != "offset" and not (table[kind] == i).any():
                raise UserError(f"--params: {kind}@{target}: sensor {target!r} has no column in the logs "
                                f"(log it as '{target}' or '{target}[k]')")
            if kind == "offset":
                state = next((int(tr.state_index[list(tr.signals).index(f"{target}.pos")])
                              for tr in tracks if f"{target}.pos" in tr.signals), None)
                if state is None:
                    raise UserError(f"--params: offset@{target}: joint {target!r} has no '{target}.pos' column in the logs")
                self.offset_param.append(i)
                self.offset_state.append(state)
        self.entry = {kind: table[kind][entry_track, entry_signal] for kind in KINDS}  # (m,) parameter or -1

    def correct_starts(self, values: np.ndarray, initial: np.ndarray) -> None:
        """Windows start from the true positions: subtract each candidate's offsets, in place.

        Args:
          values: (C, n) parameter values.
          initial: (C, W, nstate) start states from the logged (offset) positions.
        """
        if self.active and self.offset_param:
            initial[:, :, self.offset_state] -= values[:, None, self.offset_param]

    def sensor_positions(self, values: np.ndarray, position: np.ndarray, entries: np.ndarray, dt: float,
                         nstep: int) -> tuple[np.ndarray, np.ndarray]:
        """(C, n) values, (k,) entry positions in model steps -> (C, k) positions moved back by each
        candidate's sensor delay, clipped to the window's sensordata [0, nstep - 1], and (C, k) weights:
        1 where the delayed time is inside the window, falling to 0 over the step before its start
        (the window has no simulated history there: those entries are not compared)."""
        delayed = position[None, :] - self._take(values, "sensor_delay", entries, position.shape, 0.0) / dt
        return np.clip(delayed, 0.0, nstep - 1), np.clip(delayed + 1.0, 0.0, 1.0)

    def logged(self, values: np.ndarray, simulated: np.ndarray, entries: slice | np.ndarray) -> np.ndarray:
        """(C, n) values, (C, k) simulated entries -> (C, k) what the robot would log (in place)."""
        if not self.active:
            return simulated
        simulated += self._take(values, "offset", entries, simulated.shape[1:], 0.0)
        simulated *= self._take(values, "sensor_gain", entries, simulated.shape[1:], 1.0)
        simulated += self._take(values, "sensor_bias", entries, simulated.shape[1:], 0.0)
        return simulated

    def unlogged(self, values: np.ndarray, logged: np.ndarray, entries: np.ndarray) -> np.ndarray:
        """(C, n) values, (k,) logged sensor entries -> (C, k) the simulated values `logged` maps onto them."""
        bias = self._take(values, "sensor_bias", entries, logged.shape, 0.0)
        return (logged[None, :] - bias) / self._take(values, "sensor_gain", entries, logged.shape, 1.0)

    def _take(self, values: np.ndarray, kind: str, entries: slice | np.ndarray, shape: tuple, neutral: float) -> np.ndarray:
        """(C, k) the parameter `kind` of each entry (`neutral` where none acts)."""
        if not self.active:
            return np.full((len(values), *shape), neutral)
        which = self.entry[kind][entries]
        if (which < 0).all():
            return np.full((len(values), *shape), neutral)
        return np.where(which >= 0, values[:, np.maximum(which, 0)], neutral)
