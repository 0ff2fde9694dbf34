"""Column map files: rename a CSV's columns to log signal names and convert their units.

A map file is YAML with one entry per log signal::

    time: {column: timestamp_ms, scale: 0.001}
    shoulder.pos: {column: q1_deg, scale: 0.0174532925, offset: -1.5708}
    shoulder_motor.ctrl: {column: tau_cmd}

Each entry reads CSV column `column` and stores `scale * raw + offset` (defaults 1 and 0) as the
signal named by its key: `time` or `NAME.pos`, `NAME.vel`, `NAME.effort`, `NAME.ctrl`.
"""

from __future__ import annotations

import dataclasses
import math
import os

import numpy as np
import yaml

from sysid.errors import UserError

SIGNAL_KINDS = ("pos", "vel", "effort", "ctrl")
"""Suffixes of the per-joint / per-actuator signals of the log schema."""

SCHEMA_HELP = "'time' or NAME.pos, NAME.vel, NAME.effort, NAME.ctrl"

_ENTRY_KEYS = ("column", "scale", "offset")


def split_signal_name(name: str) -> tuple[str, str] | None:
    """`"shoulder.pos"` -> `("pos", "shoulder")`, `"time"` -> `("time", "")`, anything else -> None."""
    if name == "time":
        return ("time", "")
    element, dot, kind = name.rpartition(".")
    if dot and element and kind in SIGNAL_KINDS:
        return (kind, element)
    return None


@dataclasses.dataclass(frozen=True)
class MapEntry:
    """One map entry: log signal `target` = `scale * column + offset`.

    Attributes:
      target: log signal name, `time` or `NAME.pos|vel|effort|ctrl`.
      column: the CSV column it is read from.
      scale: unit factor applied to the raw value.
      offset: added after scaling, in the signal's SI unit.
    """

    target: str
    column: str
    scale: float = 1.0
    offset: float = 0.0

    def __post_init__(self):
        if split_signal_name(self.target) is None:
            raise ValueError(f"map target {self.target!r} is not a log signal name ({SCHEMA_HELP})")

    def apply(self, raw: np.ndarray) -> np.ndarray:
        """(N,) raw CSV values -> (N,) values in the signal's SI unit."""
        return self.scale * raw + self.offset


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


def load_column_map(path: str | os.PathLike) -> ColumnMap:
    """Reads a YAML map file; every mistake raises `UserError` naming the file and the entry."""
    source = os.fspath(path)
    try:
        with open(source, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise UserError(f"{source}: map file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{source}: cannot read map file ({_one_line(e)})") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or _one_line(e)
        raise UserError(f"{source}: YAML syntax error{where}: {problem}") from None
    if doc is None:
        raise UserError(f"{source}: map file is empty; expected entries like 'time: {{column: t, scale: 0.001}}'")
    if not isinstance(doc, dict):
        raise UserError(
            f"{source}: expected a mapping of log signal names to entries, got a YAML {type(doc).__name__}"
        )
    return ColumnMap(source, tuple(_parse_entry(source, key, value) for key, value in doc.items()))


def _parse_entry(source: str, key: object, value: object) -> MapEntry:
    where = f"{source}: entry {key!r}"
    if not isinstance(key, str) or split_signal_name(key) is None:
        raise UserError(f"{where}: not a log signal name; expected {SCHEMA_HELP}")
    if not isinstance(value, dict):
        raise UserError(f"{where}: expected a mapping like {{column: NAME, scale: 1.0}}, got {value!r}")
    unknown = [k for k in value if k not in _ENTRY_KEYS]
    if unknown:
        raise UserError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(_ENTRY_KEYS)}")
    if "column" not in value:
        raise UserError(f"{where}: missing 'column' (the CSV column to read)")
    column = value["column"]
    if isinstance(column, bool) or not isinstance(column, (str, int, float)) or str(column) == "":
        raise UserError(f"{where}: 'column' must be a CSV column name, got {column!r}")
    return MapEntry(
        target=key,
        column=str(column),
        scale=_number(where, "scale", value.get("scale", 1.0)),
        offset=_number(where, "offset", value.get("offset", 0.0)),
    )


def _number(where: str, name: str, value: object) -> float:
    # YAML 1.1 reads `1e-3` (no dot) as a string, so numeric strings are accepted too.
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise UserError(f"{where}: '{name}' must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise UserError(f"{where}: '{name}' must be finite, got {value!r}")
    return number


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__
