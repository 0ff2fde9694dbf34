"""Servo bench JSON logs (BAM's layout and its variants) -> `Log`, through the usual column map.

BAM's format (github.com/Rhoban/bam, `raw/*.json`) is a header of settings and a list of samples::

    {"mass": 0.49, "length": 0.1, "kp": 400, "vin": 7.4, "trajectory": "sin_sin",
     "entries": [{"timestamp": 0.0035, "position": -0.003, "speed": 0.0, "goal_position": 0.0,
                  "input_volts": 7.3, "temp": 28, "load": 0, "torque_enable": true}, ...]}

Every field of the samples is a column for the map file (`sysid.data.mapfile`), e.g. the supply
voltage and the torque enable as commands of (gain 0) MJCF actuators that an actuator model reads::

    time: {column: timestamp}
    servo.pos: {column: position}
    servo.vel: {column: speed}
    servo.ctrl: {column: goal_position}
    servo_vin.ctrl: {column: input_volts}
    servo_enable.ctrl: {column: torque_enable}    # true / false -> 1 / 0

Numeric header fields are columns too (the same value on every row), and every scalar header
field (numbers, text, true / false) is the log's `meta`, which per-log settings match by value
(`sysid.data.meta`). Without a map the BAM names are read: `time` <- `timestamp`, `servo.pos` <-
`position`, `servo.vel` <- `speed`, `servo.ctrl` <- `goal_position`.

Variants read the same way: the samples under another key (the first list of objects, e.g.
`samples`, `data`), as columns (`{"entries": {"timestamp": [...], "position": [...]}}`), or the
file being the list of samples itself (no header). A sample field holding a list is a list column
(`index:` in the map). Row N in messages is the N-th sample (the first is row 1).
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings

import numpy as np

from sysid.data.listcells import expand_lists
from sysid.data.log import Log
from sysid.data.mapfile import ColumnMap, MapEntry
from sysid.data.table import build_log, plan_columns, short
from sysid.errors import UserError

SAMPLE_KEYS = ("entries", "samples", "data", "log", "frames")  # tried first, in order, for the list of samples
BAM_MAP = ColumnMap("(servo-json default map)", (
    MapEntry("time", "timestamp"),
    MapEntry("servo.pos", "position"),
    MapEntry("servo.vel", "speed"),
    MapEntry("servo.ctrl", "goal_position"),
))
"""The map used when none is given: BAM's field names onto `servo` (joint and actuator)."""


def load_servo_json(path: str | os.PathLike, *, column_map: ColumnMap | None = None) -> Log:
    """Reads a servo JSON log; the file is only read, never written.

    Args:
      path: the `.json` file.
      column_map: names signals after sample fields (default `BAM_MAP`); `index:` reads an element
        of a list-valued field.

    Returns:
      A `Log` whose arrays are (N,) float64, N = number of samples, with `meta` = the scalar header fields.
    """
    source = os.fspath(path)
    doc = _read(source)
    header, samples = _split(source, doc)
    columns = _columns(source, samples)
    wanted = {e.column for e in (column_map or BAM_MAP).entries}
    names = list(columns)  # sample fields, then the header fields the map reads (no warning about the others)
    for key, value in header.items():  # numeric header fields: constant columns
        if key not in columns and key in wanted and isinstance(value, (int, float)) and not isinstance(value, bool):
            columns[key] = np.full(len(columns[names[0]]), float(value))
            names.append(key)
    default = column_map is None
    names, column_map, raw = expand_lists(source, names, column_map or BAM_MAP, lambda c: _matrix(source, c, columns))
    with warnings.catch_warnings():
        if default:  # the default map reads four fields on purpose: no list of the others
            warnings.filterwarnings("ignore", message=".*ignoring column")
        plan = plan_columns(source, names, column_map)
    for entry in plan.values():
        if entry.column not in raw:
            if columns[entry.column].ndim != 1:
                raise UserError(f"{source}: field {entry.column!r} holds lists; give its element with 'index:' in the map")
            raw[entry.column] = columns[entry.column]
    log = build_log(source, plan, raw)
    meta = {k: v for k, v in header.items() if isinstance(v, (int, float, str, bool))}
    return dataclasses.replace(log, meta=meta)


def _read(source: str) -> object:
    try:
        with open(source, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise UserError(f"{source}: file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{source}: cannot read file ({' '.join(str(e).split())})") from None
    except json.JSONDecodeError as e:
        raise UserError(f"{source}: not valid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None


def _split(source: str, doc: object) -> tuple[dict, list[dict] | dict[str, list]]:
    """(header fields, samples): samples as a list of objects or as an object of equal-length lists."""
    if isinstance(doc, list):
        return {}, doc
    if not isinstance(doc, dict):
        raise UserError(f"{source}: expected a JSON object with a list of samples (BAM servo layout), got a {type(doc).__name__}")
    keys = [k for k in SAMPLE_KEYS if k in doc] + [k for k, v in doc.items() if k not in SAMPLE_KEYS and isinstance(v, list)
                                                   and v and all(isinstance(x, dict) for x in v[:10])]
    for key in keys:
        value = doc[key]
        if isinstance(value, list) or (isinstance(value, dict) and value and all(isinstance(v, list) for v in value.values())):
            return {k: v for k, v in doc.items() if k != key}, value
    raise UserError(f"{source}: no list of samples; expected e.g. 'entries': [{{\"timestamp\": ..., \"position\": ...}}, ...] "
                    f"(keys: {', '.join(map(repr, list(doc)[:12]))})")


def _columns(source: str, samples: list[dict] | dict[str, list]) -> dict[str, np.ndarray]:
    """Field -> (N,) or (N, K) float64; true / false become 1 / 0."""
    if isinstance(samples, dict):
        lengths = {k: len(v) for k, v in samples.items()}
        if len(set(lengths.values())) > 1:
            first = next(iter(lengths))
            odd = next(k for k, n in lengths.items() if n != lengths[first])
            raise UserError(f"{source}: field {odd!r} has {lengths[odd]} samples, but {first!r} has {lengths[first]}")
        fields = {k: list(v) for k, v in samples.items()}
    else:
        if not samples:
            raise UserError(f"{source}: the list of samples is empty")
        fields = {}
        for row, sample in enumerate(samples, start=1):
            if not isinstance(sample, dict):
                raise UserError(f"{source}: sample {row}: expected an object of fields, got {short(json.dumps(sample))!r}")
            if row > 1 and sample.keys() != fields.keys():
                missing = sorted(set(fields) - set(sample)) or sorted(set(sample) - set(fields))
                raise UserError(f"{source}: sample {row}: fields differ from sample 1 ({', '.join(map(repr, missing))})")
            for key, value in sample.items():
                fields.setdefault(key, []).append(value)
    return {key: _numbers(source, key, values) for key, values in fields.items() if _numeric(values[0])}


def _numeric(value: object) -> bool:
    return isinstance(value, (int, float)) or (isinstance(value, list) and all(isinstance(v, (int, float)) for v in value))


def _numbers(source: str, key: str, values: list) -> np.ndarray:
    """The samples of one field as float64: (N,) for numbers, (N, K) for lists of K numbers."""
    width = len(values[0]) if isinstance(values[0], list) else None
    for row, value in enumerate(values, start=1):
        ok = (isinstance(value, list) and len(value) == width and all(_finite(v) for v in value)) if width is not None else _finite(value)
        if not ok:
            expected = f"a list of {width} numbers" if width is not None else "a finite number"
            raise UserError(f"{source}: field {key!r}, row {row}: {short(json.dumps(value))} is not {expected}")
    return np.asarray(values, dtype=np.float64)


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and bool(np.isfinite(value))


def _matrix(source: str, name: str, columns: dict[str, np.ndarray]) -> np.ndarray:
    if columns[name].ndim != 2:
        raise UserError(f"{source}: field {name!r} holds numbers, not lists; drop 'index' from its map entry")
    return columns[name]
