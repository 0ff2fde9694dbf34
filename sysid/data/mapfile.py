"""Column map files: rename a CSV's columns to log signal names and convert their units.

A map file is YAML with one entry per log signal::

    time: {column: timestamp_ms, scale: 0.001}
    shoulder.pos: {column: q1_deg, scale: 0.0174532925, offset: -1.5708}
    shoulder_motor.ctrl: {column: tau_cmd}

Each entry reads CSV column `column` and stores `scale * raw + offset` (defaults 1 and 0) as the
signal named by its key: `time` or `NAME.pos`, `NAME.vel`, `NAME.effort`, `NAME.ctrl`, or an MJCF
sensor's `S` / `S[k]` (compared with the simulated sensordata, docs/sensors-and-fields.md).

Two optional keys:

* `unwrap: true` (positions only) removes the 2 pi jumps of an angle logged wrapped to (-pi, pi],
  after scaling (so the scaled values must be radians).
* `file: other.csv` reads the column from another file: a path relative to the map file, where
  `${log_dir}` stands for the folder of the log being read. That file's rows are put on the log's
  time base (`sysid.data.align`): its commands held, its states interpolated; its time column is
  the one the `time` entry names (with the same scale and offset). For example states from one
  file and the commanded torque from its neighbour::

    pendulum.pos: {column: position}
    motor.ctrl: {file: ${log_dir}/data_desired.csv, column: torque}

Three more (docs/logs-round-two.md):

* `index: k` reads element k (0 first) of a column whose cells are lists: `"[0.1, 0.2]"` in a
  CSV, a Parquet list column (`sysid.data.listcells`).
* `unit: s|ms|us|ns` on the `time` entry: the time column's unit (multiplied into `scale`).
* `time_column: NAME` on a `file:` entry: that file's own time column, when it is named
  differently from the log's (same unit).
"""

from __future__ import annotations

import dataclasses
import math
import os
import pathlib
import re

import numpy as np
from sysid.errors import UserError
from sysid.inputs import excerpt, load_yaml

SIGNAL_KINDS = ("pos", "vel", "effort", "ctrl")
"""Suffixes of the per-joint / per-actuator signals of the log schema."""

SCHEMA_HELP = "'time' or NAME.pos, NAME.vel, NAME.effort, NAME.ctrl, NAME.pos[k], NAME.vel[k], or an MJCF sensor as S or S[k]"
SENSOR_COLUMN = re.compile(r"[A-Za-z_][\w\-:/]*(\[\d+\])?")
"""A column that may name an MJCF sensor: `S` (a scalar sensor) or `S[k]` (its element k); no dots."""

_ENTRY_KEYS = ("column", "scale", "offset", "unwrap", "file", "index", "unit", "time_column")
TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}  # `unit:` of the time entry -> seconds per unit
LOG_DIR = "${log_dir}"  # in a `file:` path: the folder of the log being read


def split_signal_name(name: str) -> tuple[str, str] | None:
    """`"shoulder.pos"` -> `("pos", "shoulder")`, `"time"` -> `("time", "")`, anything else -> None.

    A coordinate of a free or ball joint, `"root.pos[3]"`, -> `("pos", "root[3]")` (positions and
    velocities only; `sysid.track` groups them by joint)."""
    if name == "time":
        return ("time", "")
    element, dot, kind = name.rpartition(".")
    if dot and element and kind in SIGNAL_KINDS:
        return (kind, element)
    component = _COMPONENT.fullmatch(kind) if dot and element else None
    if component:
        return (component[1], f"{element}[{int(component[2])}]")
    return None


def is_sensor_column(name: str) -> bool:
    """True for a name that may be an MJCF sensor's column (`gyro`, `gyro[2]`), not a schema signal."""
    return name != "time" and split_signal_name(name) is None and SENSOR_COLUMN.fullmatch(name) is not None


def signal_kind(name: str) -> tuple[str, str] | None:
    """`split_signal_name`, and `("sensor", name)` for a sensor column (`is_sensor_column`)."""
    return split_signal_name(name) or (("sensor", name) if is_sensor_column(name) else None)


_COMPONENT = re.compile(r"(pos|vel)\[(\d+)\]")  # `pos[3]`: one coordinate of a multi-coordinate joint


def signal_name(element: str, kind: str) -> str:
    """The inverse of `split_signal_name`: `("root[3]", "pos")` -> `"root.pos[3]"`, `("elbow", "vel")` -> `"elbow.vel"`."""
    stem, bracket, index = element.partition("[")
    return f"{stem}.{kind}[{index}" if bracket and index.endswith("]") and kind in ("pos", "vel") else f"{element}.{kind}"


@dataclasses.dataclass(frozen=True)
class MapEntry:
    """One map entry: log signal `target` = `scale * column + offset`.

    Attributes:
      target: log signal name, `time` or `NAME.pos|vel|effort|ctrl`.
      column: the CSV column it is read from.
      scale: unit factor applied to the raw value.
      offset: added after scaling, in the signal's SI unit.
      unwrap: remove 2 pi jumps after scaling (angles wrapped to (-pi, pi]); positions only.
      file: None when the column is in the log file itself; else the other file's path, relative
        to the map file, possibly starting with `${log_dir}` (see `ColumnMap.companions`).
      index: None for a column of numbers; else the element read from a column whose cells are
        lists (`"[0.1, 0.2]"` in a CSV, a Parquet list), 0-based (`sysid.data.listcells`).
      time_column: for a `file:` entry, that file's time column when it is not named as the log's
        (same unit, scale and offset as the `time` entry).
    """

    target: str
    column: str
    scale: float = 1.0
    offset: float = 0.0
    unwrap: bool = False
    file: str | None = None
    index: int | None = None
    time_column: str | None = None

    def __post_init__(self):
        if signal_kind(self.target) is None:
            raise ValueError(f"map target {self.target!r} is not a log signal name ({SCHEMA_HELP})")

    def apply(self, raw: np.ndarray) -> np.ndarray:
        """(N,) raw CSV values -> (N,) values in the signal's SI unit (unwrapped if asked)."""
        values = self.scale * raw + self.offset
        return np.unwrap(values) if self.unwrap and len(values) else values


@dataclasses.dataclass(frozen=True)
class ColumnMap:
    """The entries of one map file.

    Attributes:
      source: the map file path, used in messages.
      entries: one `MapEntry` per target, in file order; targets are unique.
    """

    source: str
    entries: tuple[MapEntry, ...]

    def __post_init__(self):
        targets = [e.target for e in self.entries]
        if len(set(targets)) != len(targets):
            raise ValueError(f"{self.source}: duplicate map targets in {targets}")

    @property
    def own(self) -> "ColumnMap":
        """The entries read from the log file itself (no `file:`)."""
        return ColumnMap(self.source, tuple(e for e in self.entries if e.file is None))

    def companions(self, log_path: str | os.PathLike) -> dict[str, "ColumnMap"]:
        """Other file's path -> the map that reads it, for the log at `log_path`.

        Each such map holds that file's entries and the `time` entry (its column, scale and
        offset; `time` when the map has none). Paths are relative to the map file's folder;
        `${log_dir}` is replaced by the folder of `log_path`.
        """
        time = next((e for e in self.entries if e.target == "time"), MapEntry("time", "time"))
        base = pathlib.Path(self.source).parent
        log_dir = os.path.dirname(os.path.abspath(log_path))
        groups: dict[str, list[MapEntry]] = {}
        for entry in self.entries:
            if entry.file is not None:
                path = pathlib.Path(entry.file.replace(LOG_DIR, log_dir))
                groups.setdefault(os.fspath(path if path.is_absolute() else base / path), []).append(entry)
        return {path: ColumnMap(self.source, (_file_time(time, entries), *(dataclasses.replace(e, file=None) for e in entries)))
                for path, entries in groups.items()}


def load_column_map(path: str | os.PathLike) -> ColumnMap:
    """Reads a YAML map file; every mistake raises `UserError` naming the file and the entry."""
    source = os.fspath(path)
    doc = load_yaml(source, what="map file")
    if doc is None:
        raise UserError(f"{source}: map file is empty; expected entries like 'time: {{column: t, scale: 0.001}}'")
    if not isinstance(doc, dict):
        raise UserError(
            f"{source}: expected a mapping of log signal names to entries, got a YAML {type(doc).__name__}"
        )
    return ColumnMap(source, tuple(_parse_entry(source, key, value) for key, value in doc.items()))


def _parse_entry(source: str, key: object, value: object) -> MapEntry:
    where = f"{source}: entry {excerpt(key)}"
    if not isinstance(key, str) or signal_kind(key) is None:
        raise UserError(f"{where}: not a log signal name; expected {SCHEMA_HELP}")
    if not isinstance(value, dict):
        raise UserError(f"{where}: expected a mapping like {{column: NAME, scale: 1.0}}, got {excerpt(value)}")
    unknown = [k for k in value if k not in _ENTRY_KEYS]
    if unknown:
        raise UserError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(_ENTRY_KEYS)}")
    if "column" not in value:
        raise UserError(f"{where}: missing 'column' (the CSV column to read)")
    column = value["column"]
    if isinstance(column, bool) or not isinstance(column, (str, int, float)) or str(column) == "":
        raise UserError(f"{where}: 'column' must be a CSV column name, got {excerpt(column)}")
    unwrap = value.get("unwrap", False)
    if not isinstance(unwrap, bool):
        raise UserError(f"{where}: 'unwrap' must be true or false, got {excerpt(unwrap)}")
    if unwrap and not key.endswith(".pos"):
        raise UserError(f"{where}: 'unwrap' applies to angles, i.e. NAME.pos entries")
    file = value.get("file")
    if file is not None and (not isinstance(file, str) or not file.strip()):
        raise UserError(f"{where}: 'file' must be a path (relative to the map file or to {LOG_DIR}), got {excerpt(file)}")
    if file is not None and key == "time":
        raise UserError(f"{where}: 'time' is read from the log file itself; drop 'file' here")
    index, unit_scale, time_column = _parse_list_unit_time(where, key, value)
    return MapEntry(
        target=key,
        column=str(column),
        scale=unit_scale * _number(where, "scale", value.get("scale", 1.0)),
        offset=_number(where, "offset", value.get("offset", 0.0)),
        unwrap=unwrap,
        file=file.strip() if file is not None else None,
        index=index,
        time_column=time_column,
    )


def _parse_list_unit_time(where: str, key: str, value: dict) -> tuple[int | None, float, str | None]:
    """The `index`, `unit` (as a factor to seconds, multiplied into `scale`) and `time_column` keys."""
    index = value.get("index")
    if index is not None and (isinstance(index, bool) or not isinstance(index, int) or index < 0):
        raise UserError(f"{where}: 'index' must be a whole number >= 0 (the list element, 0 first), got {index!r}")
    unit = value.get("unit")
    if unit is not None and key != "time":
        raise UserError(f"{where}: 'unit' applies to the 'time' entry only; use 'scale' here")
    if unit is not None and unit not in TIME_UNITS:
        raise UserError(f"{where}: 'unit' must be one of {', '.join(TIME_UNITS)}, got {unit!r}")
    time_column = value.get("time_column")
    if time_column is not None and ("file" not in value or not isinstance(time_column, str) or not time_column):
        raise UserError(f"{where}: 'time_column' names the time column of the 'file' this entry reads; "
                        f"give it with 'file', as a column name, got {time_column!r}")
    return index, TIME_UNITS[unit] if unit is not None else 1.0, time_column


def _file_time(time: MapEntry, entries: list[MapEntry]) -> MapEntry:
    """The `time` entry for another file: its own `time_column` (the first entry's that names one)."""
    column = next((e.time_column for e in entries if e.time_column is not None), None)
    return dataclasses.replace(time, column=column) if column is not None else time


def _number(where: str, name: str, value: object) -> float:
    # YAML 1.1 reads `1e-3` (no dot) as a string, so numeric strings are accepted too.
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise UserError(f"{where}: '{name}' must be a number, got {excerpt(value)}") from None
    if not math.isfinite(number):
        raise UserError(f"{where}: '{name}' must be finite, got {excerpt(value)}")
    return number

