"""Reads one episode of a LeRobot v2 dataset folder into a `Log`.

Layout: `meta/info.json` (with `fps`) and `data/chunk-NNN/episode_NNNNNN.parquet`, one row per
frame, with the vector columns `observation.state` and `action` and a `timestamp` column (s; when
absent, `frame_index / fps`). A YAML map (`--map`) names the vector elements::

    state: [shoulder.pos, elbow.pos, shoulder.vel, elbow.vel]  # one signal per element; null skips one
    action: [shoulder_motor.ctrl, elbow_motor.ctrl]            # optional
    state_key: observation.state                               # default
    action_key: action                                         # default
    scale: {shoulder.pos: 0.0174533}                           # SIGNAL -> factor
    offset: {shoulder.pos: -1.5708}                            # SIGNAL -> added after scaling

Row N in messages is the N-th frame of the episode (the first is row 1).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sysid.data.log import Log
from sysid.data.mapfile import split_signal_name
from sysid.data.table import list_names, one_line
from sysid.data.yaml_map import apply_factors, factors, name_list, read_yaml_map, text
from sysid.errors import UserError


@dataclasses.dataclass(frozen=True)
class VectorMap:
    """The signal of each element of the state and action vectors (None: not used), and units.

    Attributes: as the keys of the map file (module docstring); `source` is the map file, for messages.
    """

    source: str
    state: tuple[str | None, ...]
    action: tuple[str | None, ...] = ()
    state_key: str = "observation.state"
    action_key: str = "action"
    scale: dict[str, float] = dataclasses.field(default_factory=dict)
    offset: dict[str, float] = dataclasses.field(default_factory=dict)


def load_vector_map(path: str | os.PathLike) -> VectorMap:
    """Reads the YAML map of a LeRobot dataset; every mistake raises `UserError` naming file and key."""
    source = os.fspath(path)
    doc = read_yaml_map(source, tuple(f.name for f in dataclasses.fields(VectorMap) if f.name != "source"))
    if "state" not in doc:
        raise UserError(f"{source}: missing 'state': a list naming each element of observation.state")
    vector = lambda where, value: name_list(where, value, allow_none=True)  # noqa: E731
    parse = {"state": vector, "action": vector, "state_key": text, "action_key": text, "scale": factors, "offset": factors}
    values = {key: parse[key](f"{source}: {key}", value) for key, value in doc.items()}
    for key in ("state", "action"):
        for i, signal in enumerate(values.get(key, ())):
            if signal is not None and split_signal_name(signal) in (None, ("time", "")):
                raise UserError(f"{source}: {key}: item {i + 1} '{signal}' is not a signal name; "
                                "expected NAME.pos, NAME.vel, NAME.effort or NAME.ctrl")
    signals = [s for key in ("state", "action") for s in values.get(key, ()) if s is not None]
    if len(set(signals)) != len(signals):
        raise UserError(f"{source}: '{next(s for s in signals if signals.count(s) > 1)}' is in both state and action")
    if not any((split_signal_name(s) or ("",))[0] == "pos" for s in signals):  # sensor targets split to None
        raise UserError(f"{source}: state: no JOINT.pos signal; a log needs at least one")
    return VectorMap(source, **values)


def load_lerobot(path: str | os.PathLike, *, vector_map: VectorMap | None, episode: int = 0) -> Log:
    """Reads one episode of a LeRobot v2 dataset; nothing in the folder is written.

    Args:
      path: the dataset folder (with `meta/info.json`).
      vector_map: names the state and action elements; required.
      episode: the episode index.

    Returns:
      A `Log` of the episode's frames, time in seconds from the episode's `timestamp` column.
    """
    root = Path(path)
    source = os.fspath(path)
    info = _read_info(root)
    if vector_map is None:
        raise UserError(f"{source}: a LeRobot dataset needs a map file (--map) naming the elements of "
                        f"observation.state and action{_feature_names(info)}")
    files = _episode_files(root)
    if episode not in files:
        raise UserError(f"{source}: no episode {episode}; episodes: {_ranges(sorted(files))}")
    file = files[episode]
    where = f"{source} episode {episode} ({file.relative_to(root)})"
    try:
        table = pq.read_table(file)
    except (OSError, pa.ArrowException, ValueError) as e:
        raise UserError(f"{where}: cannot read Parquet file ({one_line(e)})") from None
    if table.num_rows == 0:
        raise UserError(f"{where}: no frames")
    time = _time(where, table, info)
    signals: dict[str, dict[str, np.ndarray]] = {"pos": {}, "vel": {}, "effort": {}, "ctrl": {}}
    for key, names in ((vector_map.state_key, vector_map.state), (vector_map.action_key, vector_map.action)):
        if not names:
            continue
        values = _vectors(where, table, key, names, vector_map.source)
        for k, signal in enumerate(names):
            if signal is not None:
                kind, element = split_signal_name(signal)  # type: ignore[misc]
                signals[kind][element] = values[:, k]
    apply_factors(vector_map.source, signals, vector_map.scale, vector_map.offset)
    return Log(source, time, signals["pos"], signals["vel"], signals["effort"], signals["ctrl"])


def _read_info(root: Path) -> dict:
    info_path = root / "meta" / "info.json"
    if not root.is_dir():
        raise UserError(f"{root}: not found" if not root.exists() else f"{root}: a LeRobot dataset is a folder")
    if not info_path.is_file():
        raise UserError(f"{root}: not a LeRobot v2 dataset: no meta/info.json")
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"{info_path}: cannot read JSON ({one_line(e)})") from None
    if not isinstance(info, dict):
        raise UserError(f"{info_path}: expected a JSON object")
    return info


def _episode_files(root: Path) -> dict[int, Path]:
    files: dict[int, Path] = {}
    for file in sorted(root.glob("data/chunk-*/episode_*.parquet")):
        m = re.fullmatch(r"episode_(\d+)", file.stem)
        if m:
            files.setdefault(int(m.group(1)), file)
    if not files:
        raise UserError(f"{root}: no data/chunk-*/episode_*.parquet files (LeRobot v2 layout)")
    return files


def _time(where: str, table: pa.Table, info: dict) -> np.ndarray:
    """(N,) seconds: the `timestamp` column, else `frame_index / fps`."""
    if "timestamp" in table.column_names:
        column, time = "timestamp", _numbers(where, table, "timestamp")
    elif "frame_index" in table.column_names:
        fps = info.get("fps")
        if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not fps > 0:
            raise UserError(f"{where}: no 'timestamp' column and meta/info.json has no positive 'fps' ({fps!r})")
        column, time = "frame_index", _numbers(where, table, "frame_index") / float(fps)
    else:
        raise UserError(f"{where}: no 'timestamp' or 'frame_index' column; columns: {list_names(table.column_names)}")
    bad = np.flatnonzero(np.diff(time) <= 0)
    if bad.size:
        i = int(bad[0]) + 1
        raise UserError(f"{where}: column '{column}', row {i + 1}: {time[i]:.9g} s is not after row {i} "
                        f"({time[i - 1]:.9g} s); time must strictly increase")
    return time


def _numbers(where: str, table: pa.Table, name: str) -> np.ndarray:
    column = table.column(name)
    if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
        raise UserError(f"{where}: column '{name}' has type {column.type}; expected numbers")
    values = np.asarray(column.cast(pa.float64(), safe=False).to_numpy(zero_copy_only=False), dtype=np.float64)
    if not np.isfinite(values).all():
        row = int(np.argmin(np.isfinite(values)))
        problem = "empty cell" if column[row].is_valid is False else f"{values[row]:g} is not a finite number"
        raise UserError(f"{where}: column '{name}', row {row + 1}: {problem}")
    return values


def _vectors(where: str, table: pa.Table, key: str, names: tuple[str | None, ...], map_source: str) -> np.ndarray:
    """(N, len(names)) float64 values of a vector column."""
    if key not in table.column_names:
        raise UserError(f"{where}: no column '{key}'; columns: {list_names(table.column_names)}")
    column = table.column(key).combine_chunks()
    kind = column.type
    if not (pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)) or not (
        pa.types.is_integer(kind.value_type) or pa.types.is_floating(kind.value_type)
    ):
        raise UserError(f"{where}: column '{key}' has type {kind}; expected a list of numbers per row")
    if column.null_count:
        row = int(np.argmax(column.is_null().to_numpy(zero_copy_only=False)))
        raise UserError(f"{where}: column '{key}', row {row + 1}: empty cell")
    lengths = np.asarray(pc.list_value_length(column).to_numpy(zero_copy_only=False))
    if (lengths != len(names)).any():
        row = int(np.argmax(lengths != len(names)))
        raise UserError(f"{where}: column '{key}', row {row + 1}: {lengths[row]} elements, but {map_source} names "
                        f"{len(names)}: {', '.join(str(n) for n in names)}")
    flat = pc.list_flatten(column).cast(pa.float64(), safe=False).to_numpy(zero_copy_only=False)
    values = np.asarray(flat, dtype=np.float64).reshape(len(lengths), len(names))
    for k, name in enumerate(names):
        finite = np.isfinite(values[:, k])
        if name is not None and not finite.all():
            row = int(np.argmin(finite))
            raise UserError(f"{where}: column '{key}', row {row + 1}: element {k + 1} ({name}) is {values[row, k]}")
    return values


def _feature_names(info: dict) -> str:
    features = info.get("features")
    if not isinstance(features, dict):
        return ""
    named = {key: features[key].get("names") for key in ("observation.state", "action")
             if isinstance(features.get(key), dict)}
    return "".join(f"; info.json names {key}: {names}" for key, names in named.items() if names)


def _ranges(numbers: list[int]) -> str:
    """[0, 1, 2, 5] -> '0-2, 5'."""
    parts, start = [], 0
    for i in range(1, len(numbers) + 1):
        if i == len(numbers) or numbers[i] != numbers[i - 1] + 1:
            a, b = numbers[start], numbers[i - 1]
            parts.append(f"{a}" if a == b else f"{a}-{b}")
            start = i
    return ", ".join(parts)
