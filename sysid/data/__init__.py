"""Robot logs: loading files into `Log`, and the signal filters used on them."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Callable

from sysid.data.align import load_with_companions
from sysid.data.csv import load_csv
from sysid.data.filters import noise_std, smooth, velocity
from sysid.data.lerobot import VectorMap, load_lerobot, load_vector_map
from sysid.data.log import Log
from sysid.data.mapfile import ColumnMap, load_column_map
from sysid.data.mcap import TopicMap, load_mcap, load_topic_map, zero_order_hold
from sysid.data.outliers import describe_outliers, find_outliers
from sysid.data.meta import resolve_meta
from sysid.data.parquet import load_parquet
from sysid.data.repair import Finding, RepairRules, repair_log, repair_logs
from sysid.data.servo_json import load_servo_json
from sysid.errors import UserError

__all__ = [
    "FORMATS",
    "LOADERS",
    "ColumnMap",
    "Finding",
    "Log",
    "RepairRules",
    "TopicMap",
    "VectorMap",
    "load_column_map",
    "load_csv",
    "load_lerobot",
    "load_log",
    "load_mcap",
    "load_parquet",
    "load_servo_json",
    "load_topic_map",
    "load_vector_map",
    "noise_std",
    "repair_log",
    "repair_logs",
    "resolve_meta",
    "smooth",
    "velocity",
    "zero_order_hold",
]

Loader = Callable[..., Log]
"""`loader(path, *, map_path: str | None, episode: int | None) -> Log`; each reads its own kind of map."""


def _csv(path: str | os.PathLike, *, map_path: str | os.PathLike | None, episode: int | None) -> Log:
    return _table(load_csv, path, map_path)


def _parquet(path: str | os.PathLike, *, map_path: str | os.PathLike | None, episode: int | None) -> Log:
    return _table(load_parquet, path, map_path)


def _table(read: Callable[..., Log], path: str | os.PathLike, map_path: str | os.PathLike | None) -> Log:
    """A CSV or Parquet log through a column map; `file:` entries merge other files of the same format."""
    column_map = load_column_map(map_path) if map_path is not None else None
    if column_map is not None and column_map.companions(path):
        return load_with_companions(path, column_map, lambda p, m: read(p, column_map=m))
    return read(path, column_map=column_map)


def _mcap(path: str | os.PathLike, *, map_path: str | os.PathLike | None, episode: int | None) -> Log:
    return load_mcap(path, topic_map=load_topic_map(map_path) if map_path is not None else None)


def _lerobot(path: str | os.PathLike, *, map_path: str | os.PathLike | None, episode: int | None) -> Log:
    vector_map = load_vector_map(map_path) if map_path is not None else None
    return load_lerobot(path, vector_map=vector_map, episode=0 if episode is None else episode)


def _servo_json(path: str | os.PathLike, *, map_path: str | os.PathLike | None, episode: int | None) -> Log:
    return _table(load_servo_json, path, map_path)


FORMATS: dict[str, Loader] = {"csv": _csv, "parquet": _parquet, "mcap": _mcap, "lerobot": _lerobot, "servo-json": _servo_json}
"""`--format` name -> loader. New formats register here and in `LOADERS`."""

LOADERS: dict[str, Loader] = {".csv": _csv, ".parquet": _parquet, ".pq": _parquet, ".mcap": _mcap, ".json": _servo_json}
"""File extension (lower case, with the dot) -> loader. A folder without one is a LeRobot dataset."""


def load_log(
    path: str | os.PathLike,
    *,
    map_path: str | os.PathLike | None = None,
    format: str | None = None,
    episode: int | None = None,
) -> Log:
    """Reads one log, choosing the loader by `format`, else by the extension (a folder: LeRobot).

    Args:
      path: the log file (`.csv`, `.parquet`, `.mcap`, `.json`: servo JSON) or LeRobot dataset folder.
      map_path: optional YAML map; its keys depend on the format (see README, "Log formats").
      format: one of `FORMATS` (csv, parquet, mcap, lerobot, servo-json) to override the extension.
      episode: the episode of a LeRobot dataset (default 0); other formats refuse it.
    """
    source = os.fspath(path)
    suffix = Path(path).suffix.lower()
    if format is not None:
        if format not in FORMATS:
            raise UserError(f"{source}: unknown --format '{format}'; formats: {', '.join(FORMATS)}")
        loader = FORMATS[format]
    elif suffix in LOADERS:
        loader = LOADERS[suffix]
    elif Path(path).is_dir():
        loader = FORMATS["lerobot"]
    else:
        supported = ", ".join(sorted(LOADERS))
        raise UserError(
            f"{source}: unknown log format '{suffix or '(no extension)'}'; supported: {supported}, "
            "a LeRobot dataset folder, or --format"
        )
    if episode is not None and loader is not FORMATS["lerobot"]:
        raise UserError(f"{source}: --episode applies to LeRobot datasets only")
    log = loader(path, map_path=map_path, episode=episode)
    outliers = find_outliers(log)
    if outliers:
        warnings.warn(describe_outliers(log.source, outliers), stacklevel=2)
    return log
