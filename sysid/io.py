"""Atomic writers for every artifact sysid produces (JSON, text, figures).

Each writer puts the content in a temporary file in the target's directory and then
`os.replace`s it into place: a reader sees either the old file or the complete new one,
never a half-written file, and an interrupted write leaves the old file intact. Parent
directories are created as needed.
"""

from __future__ import annotations

import io
import json
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PathLike = str | os.PathLike[str]

_NEW_FILE_MODE = 0o644


def write_bytes(path: PathLike, data: bytes) -> Path:
    """Atomically writes `data` to `path` and returns the path.

    A file that already exists keeps its permission bits; a new one gets 0o644.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = _NEW_FILE_MODE
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def write_text(path: PathLike, text: str) -> Path:
    """Atomically writes `text` (UTF-8) to `path` and returns the path."""
    return write_bytes(path, text.encode("utf-8"))


def to_jsonable(obj: Any) -> Any:
    """Returns `obj` as plain JSON data.

    numpy scalars become Python numbers, numpy arrays and tuples become lists, mapping keys
    become strings, and non-finite floats (NaN, +-inf) become None (JSON null), since JSON
    has no NaN. Anything else that `json` cannot write raises TypeError naming its type.
    """
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return [to_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, (str, bool, int)):
        return obj
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON: {obj!r}")


def write_json(path: PathLike, obj: Any) -> Path:
    """Atomically writes `obj` as JSON (indent 2, keys in insertion order) to `path`.

    Values are converted by `to_jsonable`: numpy values become plain numbers and lists, and
    NaN / inf are written as null. The file ends with a newline.
    """
    text = json.dumps(to_jsonable(obj), indent=2, allow_nan=False, ensure_ascii=False)
    return write_text(path, text + "\n")


def save_figure(fig: Figure, path: PathLike, *, dpi: int = 120) -> Path:
    """Atomically saves a matplotlib figure to `path` as PNG and returns the path.

    Works with a bare `matplotlib.figure.Figure` (no pyplot, no display needed).
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return write_bytes(path, buf.getvalue())
