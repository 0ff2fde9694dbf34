"""Alignment: streams at different rates on one time base, idle trimming, train/validation splits.

Real logs come as several streams (joint states at 500 Hz, commands at 50 Hz, from two files or
two topics). `merge` puts one log's signals onto another's timestamps following the log schema's
timing rules: a command is zero-order held (the value issued last at or before each row), a state
(position, velocity, effort) is interpolated linearly. `trim_idle` cuts the rows at the start and
end where nothing happens, `split_time` keeps the end of a log for validation. Angle unwrapping
and unit scaling are map-file options (`unwrap:`, `scale:`, see `sysid.data.mapfile`); `unwrap`
and `scale` here do the same on a `Log`.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Callable, Mapping

import numpy as np

from sysid.data.filters import noise_std
from sysid.data.log import Log
from sysid.data.mapfile import ColumnMap, MapEntry, signal_kind, split_signal_name
from sysid.errors import UserError

STATE_GROUPS = ("pos", "vel", "effort")  # interpolated; "ctrl" is held
COVERAGE_WARNING = 0.05  # warn when another stream misses more than this fraction of the log's span
_PROBE = "__time__"  # a position read from a companion file's time column, dropped after loading


def hold(time: np.ndarray, values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Zero-order hold: the value issued last at or before each query time.

    Args:
      time: (N,) s, increasing sample times of the stream.
      values: (N,) samples issued at `time`.
      at: (M,) s, query times.
    Returns:
      (M,) values; a query before the first sample gets the first sample (the robot was holding it).
    """
    # A hair of tolerance so that a command stamped a rounding error after a row still counts for it.
    # Relative to the span, plus float rounding at the times' magnitude (epoch times are ~1e9 s).
    tol = 1e-9 * max(1.0, float(time[-1] - time[0])) + 8 * float(np.spacing(np.max(np.abs(time))))
    index = np.searchsorted(time, np.asarray(at) + tol, side="right") - 1
    return np.asarray(values)[np.clip(index, 0, len(time) - 1)]


def interpolate(time: np.ndarray, values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Linear interpolation of (N,) `values` sampled at (N,) `time` (s) to (M,) times `at` (s).

    Outside the samples' span the first / last value holds.
    """
    return np.interp(at, time, values)


def merge(log: Log, other: Log) -> Log:
    """`log` with `other`'s signals added on `log`'s time base.

    Commands of `other` are held (zero-order), its positions, velocities and efforts are
    interpolated linearly. A signal both logs carry raises UserError naming both files.
    """
    for group in (*STATE_GROUPS, "ctrl"):
        both = sorted(set(getattr(log, group)) & set(getattr(other, group)))
        if both:
            raise UserError(
                f"{other.source}: signal '{both[0]}.{group}' is also in {log.source}; map it from one file only"
            )
    covered = min(log.time[-1], other.time[-1]) - max(log.time[0], other.time[0])
    if covered < (1 - COVERAGE_WARNING) * log.duration:
        warnings.warn(
            f"{other.source}: spans {other.time[0]:.6g}..{other.time[-1]:.6g} s but {log.source} spans "
            f"{log.time[0]:.6g}..{log.time[-1]:.6g} s; values outside are held at the ends (same time base?)",
            stacklevel=2,
        )
    groups = {}
    for group in STATE_GROUPS:
        resampled = {k: interpolate(other.time, v, log.time) for k, v in getattr(other, group).items()}
        groups[group] = {**getattr(log, group), **resampled}
    groups["ctrl"] = {**log.ctrl, **{k: hold(other.time, v, log.time) for k, v in other.ctrl.items()}}
    sensors = {**log.sensors, **{k: interpolate(other.time, v, log.time) for k, v in other.sensors.items()}}
    return Log(log.source, log.time, groups["pos"], groups["vel"], groups["effort"], groups["ctrl"], log.meta, sensors)


def load_with_companions(
    path: str | os.PathLike, column_map: ColumnMap, load: Callable[[str, ColumnMap], Log]
) -> Log:
    """Reads a log whose map takes some signals from other files (`file:` entries), merged in.

    Args:
      path: the log file; its rows are the time base.
      column_map: the whole map.
      load: `load(path, column_map) -> Log` for one file (the format's loader).
    """
    log = load(os.fspath(path), column_map.own)
    for other_path, other_map in column_map.companions(path).items():
        entries = other_map.entries
        if not os.path.exists(other_path):
            raise UserError(f"{column_map.source}: entry '{entries[1].target}': file {other_path} not found")
        wanted = {(kind, name) for kind, name in map(signal_kind, (e.target for e in entries))}  # type: ignore[misc]
        if not any(kind == "pos" for kind, _ in wanted):  # loaders insist on a position: read time as one, drop it
            other_map = ColumnMap(other_map.source, (*entries, MapEntry(f"{_PROBE}.pos", entries[0].column)))
        with warnings.catch_warnings():  # the other file's unmapped columns are not wanted: no warning
            warnings.filterwarnings("ignore", message=".*ignoring column")
            other = load(other_path, other_map)
        keep = lambda group: {k: v for k, v in getattr(other, group).items() if (group, k) in wanted}  # noqa: E731
        sensors = {k: v for k, v in other.sensors.items() if ("sensor", k) in wanted}
        log = merge(log, Log(other.source, other.time, keep("pos"), keep("vel"), keep("effort"), keep("ctrl"), sensors=sensors))
    return log


def unwrap(log: Log, joints: list[str] | None = None) -> Log:
    """Removes the 2 pi jumps of angles logged wrapped to (-pi, pi]; `joints` default: all logged."""
    names = list(log.pos) if joints is None else joints
    missing = [j for j in names if j not in log.pos]
    if missing:
        raise UserError(f"{log.source}: no position column for joint(s) {missing}; logged: {list(log.pos)}")
    pos = {k: (np.unwrap(v) if k in names else v) for k, v in log.pos.items()}
    return dataclasses.replace(log, pos=pos)


def scale(log: Log, factors: Mapping[str, float]) -> Log:
    """Multiplies signals by unit factors, e.g. `{"shoulder.pos": np.pi / 180}` (degrees to rad)."""
    groups = {g: dict(getattr(log, g)) for g in ("pos", "vel", "effort", "ctrl")}
    for name, factor in factors.items():
        kind = split_signal_name(name)
        if kind is None or kind[0] == "time" or kind[1] not in groups[kind[0]]:
            raise UserError(f"{log.source}: cannot scale '{name}': not a signal of this log")
        groups[kind[0]][kind[1]] = groups[kind[0]][kind[1]] * float(factor)
    return dataclasses.replace(log, **groups)


def active_rows(log: Log, *, pos_tol: float | None = None, ctrl_tol: float | None = None) -> tuple[int, int]:
    """The rows [start, stop) between the idle segments at the start and end of a log.

    A row is idle at the start when every position is within `pos_tol` of its first value and
    every command within `ctrl_tol` of its first value (no command change and no motion); likewise
    at the end against the last values. The row before the first active one is kept, so the log
    still starts at rest, and the row after the last active one.

    Args:
      pos_tol: rad or m; default 5 noise standard deviations or 2 quantization steps of each
        position, whichever is larger.
      ctrl_tol: command units; default 1e-6 x the command's peak magnitude (any real change).
    Returns:
      (start, stop); (0, N) when the log never leaves its first state.
    """
    n = len(log.time)
    from_start, to_end = _moving(log, pos_tol, ctrl_tol)
    if not from_start.any():
        return 0, n
    start = max(int(np.argmax(from_start)) - 1, 0)
    stop = min(n - int(np.argmax(to_end[::-1])) + 1, n)
    return start, stop


def trim_idle(log: Log, *, pos_tol: float | None = None, ctrl_tol: float | None = None) -> Log:
    """`log` without its idle rows at the start and end (see `active_rows`); a log that is idle
    throughout is kept whole, with a warning."""
    if not _moving(log, pos_tol, ctrl_tol)[0].any():
        warnings.warn(f"{log.source}: nothing moves and no command changes; the log is kept whole", stacklevel=2)
        return log
    return log.slice(*active_rows(log, pos_tol=pos_tol, ctrl_tol=ctrl_tol))


def _moving(log: Log, pos_tol: float | None, ctrl_tol: float | None) -> tuple[np.ndarray, np.ndarray]:
    """(N,) rows away from the first state, (N,) rows away from the last state."""
    n = len(log.time)
    from_start, to_end = np.zeros(n, bool), np.zeros(n, bool)
    for group, tol in (("pos", pos_tol), ("ctrl", ctrl_tol)):
        for values in getattr(log, group).values():
            if tol is not None:
                limit = tol
            elif group == "pos":
                limit = _idle_tolerance(log.time, values)
            else:
                limit = 1e-6 * max(float(np.max(np.abs(values))), 1e-12)
            from_start |= np.abs(values - values[0]) > limit
            to_end |= np.abs(values - values[-1]) > limit
    return from_start, to_end


def _idle_tolerance(time: np.ndarray, values: np.ndarray) -> float:
    steps = np.abs(np.diff(values))
    steps = steps[steps > 1e-12 * max(1.0, float(np.max(np.abs(values))))]
    quantum = float(np.min(steps)) if steps.size else 0.0
    return max(5 * noise_std(time, values), 2 * quantum, 1e-12)


def split_time(log: Log, fraction: float) -> tuple[Log, Log]:
    """(train, validation): the validation part is the last `fraction` of the log's duration.

    The two parts share the boundary row, so the validation part starts from the state the
    training part ends in.
    """
    if not 0 < fraction < 1:
        raise UserError(f"--val {fraction}: the validation fraction must be between 0 and 1 (e.g. 0.2)")
    if len(log.time) < 4:
        raise UserError(f"{log.source}: {len(log.time)} rows are too few to split off {fraction:g} for validation")
    cut = log.time[-1] - fraction * log.duration
    row = min(max(int(np.searchsorted(log.time, cut)), 1), len(log.time) - 2)
    return log.slice(0, row + 1), log.slice(row, len(log.time))
