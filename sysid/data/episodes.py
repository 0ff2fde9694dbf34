"""Many logs in one fit: `--log` globs and `--episode` selections of LeRobot datasets.

`--episode` takes one episode (`3`), a range (`0-49`), a list of them (`0-9,20,30-39`) or `all`.
Each selected episode becomes its own log, with its own start states, named `DATASET#episode N`.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Sequence
from pathlib import Path

from sysid.data.lerobot import _episode_files, _ranges
from sysid.errors import UserError

Episodes = str | tuple[int, ...] | None  # None: the default episode; "all"; or these indices


def parse_episodes(text: str | int | None) -> Episodes:
    """`--episode` text -> None, "all", or the sorted episode indices ("0-2,5" -> (0, 1, 2, 5))."""
    if text is None or text == "all":
        return text
    chosen: set[int] = set()
    for part in str(text).split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not m or (m.group(2) is not None and int(m.group(2)) < int(m.group(1))):
            raise UserError(f"--episode {text}: expected an episode (3), a range (0-49), a list of them (0-9,20) or 'all'")
        first = int(m.group(1))
        chosen.update(range(first, int(m.group(2) or first) + 1))
    return tuple(sorted(chosen))


def expand_logs(paths: Sequence[str], *, episodes: Episodes = None, format: str | None = None) -> list[tuple[str, str, int | None]]:
    """The logs that `--log` paths and `--episode` name, as (name, path, episode) in order.

    A path that does not exist but holds a glob pattern (`runs/*.csv`) stands for the files it
    matches, sorted. A LeRobot dataset (a folder, or `--format lerobot`) with several episodes
    selected gives one entry per episode; with `episodes` None, its default episode.
    """
    out: list[tuple[str, str, int | None]] = []
    for pattern in paths:
        matches = [pattern]
        if not os.path.exists(pattern) and glob.has_magic(pattern):
            matches = sorted(glob.glob(pattern))
            if not matches:
                raise UserError(f"--log {pattern}: no file matches this pattern")
        for path in matches:
            lerobot = format == "lerobot" or (format is None and Path(path).is_dir())
            if not lerobot or episodes is None:
                out.append((path, path, None if episodes is None else _single(path, episodes)))
                continue
            available = sorted(_episode_files(Path(path)))
            chosen = available if episodes == "all" else list(episodes)
            missing = sorted(set(chosen) - set(available))
            if missing:
                raise UserError(f"{path}: no episode {_ranges(missing)}; episodes: {_ranges(available)}")
            out += [(path if len(chosen) == 1 else f"{path}#episode {k}", path, k) for k in chosen]
    return out


def _single(path: str, episodes: Episodes) -> int:
    """A non-LeRobot log with --episode: one index is passed on (the loader refuses it with its own message)."""
    return episodes[0] if isinstance(episodes, tuple) and len(episodes) == 1 else 0
