"""Reads a CSV log (the default schema, or any CSV through a column map) into a `Log`.

Default schema: `time` (s), `<joint>.pos`, optional `<joint>.vel`, `<joint>.effort`, `<actuator>.ctrl`.
Other columns are ignored with a warning. Every problem with the file raises `UserError` naming the
file, the column and the row, where row N is the N-th data row (the line after the header is row 1).
"""

from __future__ import annotations

import os
import re
import warnings
from difflib import get_close_matches

import numpy as np
import pandas as pd

from sysid.data.log import Log
from sysid.data.mapfile import SCHEMA_HELP, ColumnMap, MapEntry, split_signal_name
from sysid.errors import UserError


def load_csv(path: str | os.PathLike, *, column_map: ColumnMap | None = None) -> Log:
    """Reads a CSV log; the file is only read, never written.

    Args:
      path: the CSV file, with a header row.
      column_map: renames and scales columns (see `sysid.data.mapfile`). Columns it does not mention
        but that already follow the schema are still used; a map entry wins over a same-named column.

    Returns:
      A `Log` whose arrays are (N,) float64, N = number of data rows.
    """
    source = os.fspath(path)
    header = _read_header(source)
    _check_unique(source, header)
    plan = _plan(source, header, column_map)
    _warn_ignored(source, header, plan)

    index = {name: i for i, name in enumerate(header)}
    used = sorted({index[entry.column] for entry in plan.values()})
    raw = _read_numbers_fast(source, header, used)
    if raw is None:  # something is wrong in the data rows: find it and say where
        raw = _read_numbers_checked(source, header, used, plan)

    signals: dict[str, dict[str, np.ndarray]] = {"pos": {}, "vel": {}, "effort": {}, "ctrl": {}}
    time = np.empty(0)
    for target, entry in plan.items():
        values = np.ascontiguousarray(entry.apply(raw[index[entry.column]]), dtype=np.float64)
        kind, element = split_signal_name(target)  # type: ignore[misc]
        if kind == "time":
            time = values
        else:
            signals[kind][element] = values
    _check_time(source, plan["time"], raw[index[plan["time"].column]], time)
    return Log(source, time, signals["pos"], signals["vel"], signals["effort"], signals["ctrl"])


def _read_header(source: str) -> list[str]:
    """The column names of the first row, stripped."""
    if not os.path.exists(source):
        raise UserError(f"{source}: file not found")
    try:
        first = pd.read_csv(source, header=None, nrows=1, dtype=str, keep_default_na=False, na_filter=False)
    except pd.errors.EmptyDataError:
        raise UserError(f"{source}: file is empty; expected a header row like 'time,JOINT.pos,ACTUATOR.ctrl'") from None
    except pd.errors.ParserError as e:
        raise UserError(f"{source}: cannot parse CSV: {_parser_problem(e)}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{source}: cannot read file ({_one_line(e)})") from None
    return [str(name).strip() for name in first.iloc[0].fillna("")]


def _read_numbers_fast(source: str, header: list[str], used: list[int]) -> dict[int, np.ndarray] | None:
    """Column index -> (N,) float64 raw values when the file is clean, else None (no message)."""
    try:
        table = pd.read_csv(source, header=None, skiprows=1)
    except (ValueError, OSError):  # pandas' parse errors are ValueErrors
        return None
    if table.shape[1] != len(header) or any(table[i].dtype.kind not in "iuf" for i in used):
        return None
    raw = {i: table[i].to_numpy(dtype=np.float64) for i in used}
    if not all(np.isfinite(values).all() for values in raw.values()):
        return None
    return raw


def _read_numbers_checked(
    source: str, header: list[str], used: list[int], plan: dict[str, MapEntry]
) -> dict[int, np.ndarray]:
    """Like `_read_numbers_fast`, cell by cell as text; the first bad cell (by row, then column) raises."""
    try:
        table = pd.read_csv(source, header=None, dtype=str, keep_default_na=False, na_filter=False)
    except pd.errors.ParserError as e:
        raise UserError(f"{source}: cannot parse CSV: {_parser_problem(e)}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{source}: cannot read file ({_one_line(e)})") from None
    cells = table.iloc[1:].reset_index(drop=True).fillna("")
    if len(cells) == 0:
        raise UserError(f"{source}: no data rows, only a header")
    raw = {i: pd.to_numeric(cells[i].str.strip(), errors="coerce").to_numpy(dtype=np.float64) for i in used}
    bad = np.stack([~np.isfinite(raw[i]) for i in used], axis=1)
    if bad.any():
        row, k = np.unravel_index(np.argmax(bad), bad.shape)
        col = used[k]
        text = cells.iat[row, col].strip()
        if text == "":
            problem = "empty cell"
        elif _is_float(text):
            problem = f"{_short(text)!r} is not a finite number"
        else:
            problem = f"{_short(text)!r} is not a number"
        raise UserError(f"{source}: {_column(header[col], plan)}, row {row + 1}: {problem}")
    return raw


def _check_unique(source: str, header: list[str]) -> None:
    seen: dict[str, int] = {}
    for i, name in enumerate(header):
        if name and name in seen:
            raise UserError(f"{source}: duplicate column name '{name}' (columns {seen[name] + 1} and {i + 1})")
        seen[name] = i


def _plan(source: str, header: list[str], column_map: ColumnMap | None) -> dict[str, MapEntry]:
    """Signal name -> where to read it: the schema columns, then the map entries over them."""
    plan = {name: MapEntry(name, name) for name in header if split_signal_name(name) is not None}
    if column_map is not None:
        for entry in column_map.entries:
            if entry.column not in header:
                raise UserError(
                    f"{column_map.source}: entry '{entry.target}': column '{entry.column}' is not in {source}"
                    f"{_suggest(entry.column, header)}"
                )
            plan[entry.target] = entry
    via_map = f" (nor mapped by {column_map.source})" if column_map is not None else ""
    if "time" not in plan:
        if len(header) == 1 and re.search(r"[;\t|]", header[0]):
            raise UserError(f"{source}: no 'time' column; the header is one column '{header[0]}': use commas")
        raise UserError(f"{source}: no 'time' column{via_map}; columns: {_list(header)}")
    if not any(split_signal_name(target)[0] == "pos" for target in plan):  # type: ignore[index]
        raise UserError(f"{source}: no JOINT.pos column{via_map}; a log needs at least one; columns: {_list(header)}")
    return plan


def _warn_ignored(source: str, header: list[str], plan: dict[str, MapEntry]) -> None:
    used = {entry.column for entry in plan.values()}
    unused = [(i, name) for i, name in enumerate(header) if name not in used]
    replaced = [name for _, name in unused if split_signal_name(name) is not None]
    other = [name if name else f"(unnamed column {i + 1})" for i, name in unused if name not in replaced]
    if other:
        warnings.warn(
            f"{source}: ignoring column(s) {_list(other)}: not in the log schema ({SCHEMA_HELP}); "
            "rename them or use a map file if they are needed",
            stacklevel=3,
        )
    if replaced:
        warnings.warn(f"{source}: ignoring column(s) {_list(replaced)}: the map file gives these signals", stacklevel=3)


def _check_time(source: str, entry: MapEntry, raw: np.ndarray, time: np.ndarray) -> None:
    """`time` (after the map's scale) must strictly increase; `raw` is the column as read."""
    bad = np.flatnonzero(np.diff(time) <= 0)
    if bad.size:
        i = int(bad[0])
        raise UserError(
            f"{source}: {_column(entry.column, {'time': entry})}, row {i + 2}: time {raw[i + 1]:.15g} "
            f"is not after row {i + 1} ({raw[i]:.15g}); time must strictly increase"
        )


def _column(name: str, plan: dict[str, MapEntry]) -> str:
    """Names a CSV column in a message, e.g. `column 'q1_deg' (mapped to shoulder.pos)`."""
    targets = [t for t, e in plan.items() if e.column == name and t != name]
    return f"column '{name}'" + (f" (mapped to {', '.join(targets)})" if targets else "")


def _suggest(name: str, header: list[str]) -> str:
    close = get_close_matches(name, header, n=1)
    return f"; did you mean '{close[0]}'?" if close else f"; columns: {_list(header)}"


def _list(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(f"'{n}'" for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _parser_problem(e: Exception) -> str:
    """pandas' tokenizer message, with its file line turned into a data row."""
    message = _one_line(e)
    m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
    if m:
        expected, line, saw = map(int, m.groups())
        return f"row {line - 1} has {saw} cells but the header has {expected} columns"
    return message


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__
