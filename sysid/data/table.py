"""Named columns of a table (CSV, Parquet) -> `Log`: the schema and column-map rules both share.

A table is read into a header (its column names) and the raw values of the columns it needs;
`plan_columns` decides which column gives which signal, `build_log` applies the map's units and
checks time. Every problem raises `UserError` naming the file, the column and the row (row 1 is the
first data row).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from difflib import get_close_matches

import numpy as np

from sysid.data.log import Log
from sysid.data.mapfile import SCHEMA_HELP, ColumnMap, MapEntry, is_sensor_column, signal_kind, split_signal_name
from sysid.errors import UserError


def plan_columns(source: str, header: list[str], column_map: ColumnMap | None, *,
                 numeric: Callable[[list[str]], set[str]] | None = None) -> dict[str, MapEntry]:
    """Signal name -> where to read it: the schema columns, then the map entries over them.

    Checks that column names are unique, that `time` and one `JOINT.pos` are given, and warns
    about the columns no signal reads. `numeric(names)`: which of these columns hold only finite
    numbers; those that may name an MJCF sensor (`S`, `S[k]`) are read too, as `Log.sensors`.
    """
    _check_unique(source, header)
    plan = {name: MapEntry(name, name) for name in header if split_signal_name(name) is not None}
    if column_map is not None:
        for entry in column_map.entries:
            if entry.column not in header:
                raise UserError(
                    f"{column_map.source}: entry {entry.target!r}: column {entry.column!r} is not in {source}"
                    f"{_suggest(entry.column, header)}"
                )
            plan[entry.target] = entry
    if numeric is not None:
        mapped = {entry.column for entry in plan.values()}
        candidates = [name for name in header if is_sensor_column(name) and name not in mapped and name not in plan]
        for name in sorted(numeric(candidates)) if candidates else ():
            plan[name] = MapEntry(name, name)
    via_map = f" (nor mapped by {column_map.source})" if column_map is not None else ""
    if "time" not in plan:
        if len(header) == 1 and re.search(r"[;\t|]", header[0]):
            raise UserError(f"{source}: no 'time' column; the header is one column {header[0]!r}: use commas")
        raise UserError(f"{source}: no 'time' column{via_map}; columns: {list_names(header)}")
    if not any((split_signal_name(target) or ("",))[0] == "pos" for target in plan):  # sensor columns split to None
        raise UserError(
            f"{source}: no JOINT.pos column{via_map}; a log needs at least one; columns: {list_names(header)}"
        )
    _warn_ignored(source, header, plan)
    return plan


def build_log(source: str, plan: dict[str, MapEntry], raw: dict[str, np.ndarray]) -> Log:
    """The `Log` of a table.

    Args:
      source: the file, for messages.
      plan: from `plan_columns`.
      raw: column name -> (N,) finite float64 values as stored, for every column in `plan`.
    """
    signals: dict[str, dict[str, np.ndarray]] = {"time": {}, "pos": {}, "vel": {}, "effort": {}, "ctrl": {}, "sensor": {}}
    for target, entry in plan.items():
        values = np.ascontiguousarray(entry.apply(raw[entry.column]), dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            row = int(bad[0])
            raise UserError(
                f"{source}: {describe_column(entry.column, plan)}, row {row + 1}: {raw[entry.column][row]:.15g} "
                f"times scale {entry.scale:g} is not a finite number"
            )
        kind, element = signal_kind(target)  # type: ignore[misc]
        signals[kind][element] = values
    time, time_raw = signals["time"][""], raw[plan["time"].column]
    bad = np.flatnonzero(np.diff(time) <= 0)
    if bad.size:
        i = int(bad[0])
        raise UserError(
            f"{source}: {describe_column(plan['time'].column, {'time': plan['time']})}, row {i + 2}: time "
            f"{time_raw[i + 1]:.15g} is not after row {i + 1} ({time_raw[i]:.15g}); time must strictly increase"
        )
    return Log(source, time, signals["pos"], signals["vel"], signals["effort"], signals["ctrl"], sensors=signals["sensor"])


def describe_column(name: str, plan: dict[str, MapEntry]) -> str:
    """Names a column in a message, e.g. `column 'q1_deg' (mapped to shoulder.pos)`."""
    targets = [t for t, e in plan.items() if e.column == name and t != name]
    return f"column {name!r}" + (f" (mapped to {', '.join(targets)})" if targets else "")


def list_names(names: list[str], limit: int = 12) -> str:
    """`'a', 'b', ... (N in all)` for messages."""
    shown = ", ".join(f"{n!r}" for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def short(text: str, limit: int = 40) -> str:
    """`text` cut to `limit` characters for a message."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def one_line(e: BaseException) -> str:
    """An exception's message on one line."""
    return " ".join(str(e).split()) or type(e).__name__


def _check_unique(source: str, header: list[str]) -> None:
    seen: dict[str, int] = {}
    for i, name in enumerate(header):
        if name and name in seen:
            raise UserError(f"{source}: duplicate column name {name!r} (columns {seen[name] + 1} and {i + 1})")
        seen[name] = i


def _warn_ignored(source: str, header: list[str], plan: dict[str, MapEntry]) -> None:
    used = {entry.column for entry in plan.values()}
    unused = [(i, name) for i, name in enumerate(header) if name not in used]
    replaced = [name for _, name in unused if split_signal_name(name) is not None]
    other = [name if name else f"(unnamed column {i + 1})" for i, name in unused if name not in replaced]
    if other:
        warnings.warn(
            f"{source}: ignoring column(s) {list_names(other)}: not in the log schema ({SCHEMA_HELP}); "
            "rename them or use a map file if they are needed",
            stacklevel=4,
        )
    if replaced:
        warnings.warn(
            f"{source}: ignoring column(s) {list_names(replaced)}: the map file gives these signals", stacklevel=4
        )


def _suggest(name: str, header: list[str]) -> str:
    close = get_close_matches(name, header, n=1)
    return f"; did you mean {close[0]!r}?" if close else f"; columns: {list_names(header)}"
