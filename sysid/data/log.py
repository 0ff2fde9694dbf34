"""`Log`: one recording of a robot, as time-indexed signals named after the MJCF model."""

from __future__ import annotations

import dataclasses

import numpy as np

from sysid.errors import UserError


@dataclasses.dataclass(frozen=True)
class Log:
    """One recording, in SI units, with signals keyed by MJCF joint and actuator names.

    Attributes:
      source: where it came from (a file path), used in messages and in result.json.
      time: (N,) seconds, strictly increasing, irregular spacing allowed.
      pos: joint name -> (N,) measured position (rad or m).
      vel: joint name -> (N,) measured velocity (rad/s or m/s); only the joints whose
        velocity was logged. Use `sysid.data.velocity` for a derived one.
      effort: joint name -> (N,) measured joint torque or force, when logged.
      ctrl: actuator name -> (N,) command issued at time[i], held until time[i+1].
      meta: the log's own settings from its header (e.g. a servo JSON's kp, mass, trajectory),
        for per-log settings matched by value (`sysid.data.meta`); empty for most formats.
      sensors: column name (`S` or `S[k]`) -> (N,) values of columns that may name an MJCF
        sensor; `sysid.track.bind_log` compares those that do with the simulated sensordata.
    """

    source: str
    time: np.ndarray
    pos: dict[str, np.ndarray]
    vel: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    effort: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    ctrl: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    meta: dict[str, float | str | bool] = dataclasses.field(default_factory=dict)
    sensors: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        n = len(self.time)
        if n < 2:
            raise UserError(f"{self.source}: a log needs at least 2 rows, got {n}")
        bad = np.flatnonzero(np.diff(self.time) <= 0)
        if bad.size:
            raise UserError(
                f"{self.source}: column 'time' must strictly increase, but row {bad[0] + 2} "
                f"({self.time[bad[0] + 1]!r}) is not after row {bad[0] + 1} ({self.time[bad[0]]!r})"
            )
        for group in ("pos", "vel", "effort", "ctrl", "sensors"):
            for name, values in getattr(self, group).items():
                if values.shape != (n,):
                    raise ValueError(f"{self.source}: {name}.{group} has shape {values.shape}, expected ({n},)")

    @property
    def duration(self) -> float:
        """Seconds from the first to the last row."""
        return float(self.time[-1] - self.time[0])

    @property
    def joints(self) -> list[str]:
        """Names of the joints whose position is logged."""
        return list(self.pos)

    @property
    def actuators(self) -> list[str]:
        """Names of the actuators whose command is logged."""
        return list(self.ctrl)

    def slice(self, start: int, stop: int) -> "Log":
        """The rows [start, stop) as a new Log with the same source."""
        cut = lambda d: {k: v[start:stop] for k, v in d.items()}  # noqa: E731
        return Log(self.source, self.time[start:stop], cut(self.pos), cut(self.vel), cut(self.effort), cut(self.ctrl), self.meta,
                   cut(self.sensors))
