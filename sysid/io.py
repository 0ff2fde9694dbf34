"""Atomic writers for every artifact sysid produces (JSON, text, figures), and output folders
written as one set.

Each writer puts the content in a temporary file in the target's directory and then
`os.replace`s it into place: a reader sees either the old file or the complete new one,
never a half-written file, and an interrupted write leaves the old file intact. Parent
directories are created as needed.

`output_set` does the same for a whole output folder (see its docstring): the files of one
command are written into a staging folder beside it, which then takes the folder's place, so
the folder holds either the complete old set or the complete new one.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import glob
import io
import json
import math
import os
import shutil
import tempfile
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sysid.errors import UserError

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


# Errors of the place written to rather than of sysid: reported as one line (a UserError).
_PLACE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EFBIG, errno.EIO}
_RENAME_EXCHANGE = 2  # renameat2 flag (Linux 3.15+): swap two paths atomically
_AT_FDCWD = -100


def check_writable(out: PathLike) -> None:
    """Raise a UserError unless an output folder `out` can be written (and swapped in), tried with a
    real temporary folder beside it, not guessed from permission bits. Creates nothing that stays."""
    shown, out = out, Path(out).absolute()
    if out.is_symlink():
        out = out.resolve()
    if out.exists() and not out.is_dir():
        raise UserError(f"{shown}: is a file; give a folder (every command writes several files into it)")
    parent = out.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UserError(f"{shown}: cannot create it, {parent} is not a folder")
    try:
        os.rmdir(tempfile.mkdtemp(dir=parent, prefix=".sysid-probe-"))
        if out.is_dir():
            os.listdir(out)
            if not os.access(out, os.W_OK | os.X_OK):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
    except OSError as error:
        raise UserError(f"{shown}: cannot write there ({error.strerror or error}); choose another output folder") from None


@contextlib.contextmanager
def output_set(out: PathLike, *, names: Collection[str]) -> Iterator[Path]:
    """Write one set of output files into the folder `out` as a whole.

    Yields an empty staging folder created beside `out` (same file system); write every file of
    the set into it. On success the staging folder takes `out`'s place in one atomic rename
    (Linux renameat2 RENAME_EXCHANGE; elsewhere two renames, and a run killed between them is
    repaired by the next write); a reader, or a process killed at any moment, sees the complete
    old set or the complete new one. On an error, or when interrupted, the staging folder is
    removed and `out` is left as it was. Replacing an existing folder keeps its other files:
    every file whose name is not in `names` (the set's names) is carried over (hard links, else
    copies), while an old file of the set that the new set lacks is dropped. When `out` is the
    working folder (or holds it), a mount point, or holds other folders or more than
    `MAX_CARRIED` other files, it is not swapped: the set's files are then replaced one by one,
    each atomically (a kill can leave a mix of old and new files there). Disk-full and
    permission errors become a UserError naming `out`.
    """
    out = Path(out).absolute()
    if out.is_symlink():  # swap the folder it points to, not the link
        out = out.resolve()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        _repair(out)
        stage = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.sysid-new-{os.getpid()}-"))
    except OSError as error:
        raise _place_error(out, error) from None
    try:
        yield stage
        if out.is_dir() and _replace_in_place(out, names):
            written = {entry.name for entry in stage.iterdir()}
            for name in written:
                if (out / name).is_dir() and not (out / name).is_symlink():
                    shutil.rmtree(out / name)
                os.replace(stage / name, out / name)
            for name in set(names) - written:
                (out / name).unlink(missing_ok=True)
        else:
            _carry_over(out, stage, names)
            _fsync_dir(stage)
            _swap(stage, out)
        _fsync_dir(out.parent)
    except OSError as error:
        shutil.rmtree(stage, ignore_errors=True)
        raise _place_error(out, error) from None
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    shutil.rmtree(stage, ignore_errors=True)  # the old set after an exchange


def _place_error(out: Path, error: OSError) -> Exception:
    if error.errno in _PLACE_ERRORS:
        return UserError(f"{out}: cannot write the outputs ({error.strerror}); the folder was left as it was")
    return error


MAX_CARRIED = 100  # other files beyond which a folder is not swapped but updated in place


def _replace_in_place(out: Path, names: Collection[str]) -> bool:
    """True when `out` cannot or should not be swapped: it is (or holds) the working folder, a
    mount point, or holds other folders or many other files (e.g. --out ~), which a swap would
    have to link over one by one."""
    try:
        if Path.cwd().resolve().is_relative_to(out.resolve()) or os.path.ismount(out):
            return True
    except OSError:
        return True
    others = [e for e in out.iterdir() if e.name not in names and ".sysid-" not in e.name]
    return len(others) > MAX_CARRIED or any(e.is_dir() and not e.is_symlink() for e in others)


def _carry_over(out: Path, stage: Path, names: Collection[str]) -> None:
    """Put `out`'s entries not named in `names` into `stage` (hard links, else copies), and its mode."""
    if not out.is_dir():
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(stage, 0o777 & ~umask)
        return
    os.chmod(stage, out.stat().st_mode & 0o7777)
    for entry in out.iterdir():
        if entry.name in names or ".sysid-" in entry.name:
            continue
        target = stage / entry.name
        if entry.is_symlink():
            os.symlink(os.readlink(entry), target)
        else:
            try:
                os.link(entry, target)
            except OSError:
                shutil.copy2(entry, target)


def _swap(stage: Path, out: Path) -> None:
    """Put `stage` at `out`; the old `out`, if any, ends up at `stage` (to be removed)."""
    if not out.exists():
        os.rename(stage, out)
        stage.mkdir()  # an empty folder where the caller removes the old set
        return
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is not None:
        if renameat2(_AT_FDCWD, os.fsencode(stage), _AT_FDCWD, os.fsencode(out), _RENAME_EXCHANGE) == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
            raise OSError(code, os.strerror(code), str(out))
    old = out.parent / f".{out.name}.sysid-old-{os.getpid()}-{stage.name.rsplit('-', 1)[-1]}"
    os.rename(out, old)
    os.rename(stage, out)
    os.rename(old, stage)


def _repair(out: Path) -> None:
    """Remove the staging folders of dead sysid processes beside `out`; put back an old set that a
    process killed between `_swap`'s two renames left aside."""
    for path in out.parent.glob(f".{glob.escape(out.name)}.sysid-*-*-*"):
        kind, pid = path.name[len(out.name) + 8 :].split("-")[:2]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        if kind == "old" and not out.exists():
            os.rename(path, out)
        else:
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
