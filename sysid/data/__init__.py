"""Robot logs: loading files into `Log`, and the signal filters used on them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from sysid.data.csv import load_csv
from sysid.data.filters import noise_std, smooth, velocity
from sysid.data.log import Log
from sysid.data.mapfile import ColumnMap, load_column_map
from sysid.errors import UserError

__all__ = ["ColumnMap", "Log", "load_column_map", "load_log", "noise_std", "smooth", "velocity"]

Loader = Callable[..., Log]
"""`loader(path, *, column_map: ColumnMap | None) -> Log`."""

LOADERS: dict[str, Loader] = {
    ".csv": load_csv,
}
"""File extension (lower case, with the dot) -> loader. New formats register here."""


def load_log(path: str | os.PathLike, *, map_path: str | os.PathLike | None = None) -> Log:
    """Reads one log file, choosing the loader by its extension.

    Args:
      path: the log file (`.csv`).
      map_path: optional YAML column map (see `load_column_map`).
    """
    suffix = Path(path).suffix.lower()
    loader = LOADERS.get(suffix)
    if loader is None:
        supported = ", ".join(sorted(LOADERS))
        raise UserError(f"{os.fspath(path)}: unknown log format '{suffix or '(no extension)'}'; supported: {supported}")
    column_map = load_column_map(map_path) if map_path is not None else None
    return loader(path, column_map=column_map)
