"""Reads a CSV log (the default schema, or any CSV through a column map) into a `Log`.

Default schema: `time` (s), `<joint>.pos`, optional `<joint>.vel`, `<joint>.effort`, `<actuator>.ctrl`.
Lines starting with `#` before the header are comments and skipped (some loggers write a line like
`# Saving: 0.02 s` first). Other columns are ignored with a warning. Every problem with the file raises `UserError` naming the
file, the column and the row, where row N is the N-th data row (the line after the header is row 1).
"""

from __future__ import annotations

import os
import re

import numpy as np
import pandas as pd

from sysid.data.listcells import has_lists, load_csv_lists
from sysid.data.log import Log
from sysid.data.mapfile import ColumnMap, MapEntry
from sysid.data.table import build_log, describe_column, one_line, plan_columns, short
from sysid.errors import UserError
from sysid.inputs import MAX_WHOLE_FILE_BYTES, check_file


def load_csv(path: str | os.PathLike, *, column_map: ColumnMap | None = None) -> Log:
    """Reads a CSV log; the file is only read, never written.

    Args:
      path: the CSV file, with a header row.
      column_map: renames and scales columns (see `sysid.data.mapfile`). Columns it does not mention
        but that already follow the schema are still used; a map entry wins over a same-named column.

    Returns:
      A `Log` whose arrays are (N,) float64, N = number of data rows.
    """
    if has_lists(column_map):  # `index:` entries read list cells
        return load_csv_lists(path, column_map)  # type: ignore[arg-type]
    source = os.fspath(path)
    header = _read_header(source)
    plan = plan_columns(source, header, column_map, numeric=lambda names: _numeric_columns(source, names))
    index = {name: i for i, name in enumerate(header)}
    used = sorted({index[entry.column] for entry in plan.values()})
    raw = _read_numbers_fast(source, header, used)
    if raw is None:  # something is wrong in the data rows: find it and say where
        raw = _read_numbers_checked(source, header, used, plan)
    return build_log(source, plan, {header[i]: values for i, values in raw.items()})


def _read_header(source: str) -> list[str]:
    """The column names of the first row, stripped."""
    check_file(source, what="file", max_bytes=MAX_WHOLE_FILE_BYTES)
    try:
        first = pd.read_csv(source, header=None, nrows=1, dtype=str, keep_default_na=False, na_filter=False,
                            skiprows=_comment_lines(source))
    except pd.errors.EmptyDataError:
        raise UserError(f"{source}: file is empty; expected a header row like 'time,JOINT.pos,ACTUATOR.ctrl'") from None
    except pd.errors.ParserError as e:
        raise UserError(f"{source}: cannot parse CSV: {_parser_problem(e)}") from None
    except UnicodeDecodeError as e:
        raise UserError(f"{source}: cannot read file (not UTF-8 text: byte 0x{e.object[e.start]:02x}); save it as UTF-8") from None
    except OSError as e:
        raise UserError(f"{source}: cannot read file ({one_line(e)})") from None
    return [str(name).strip() for name in first.iloc[0].fillna("")]


def _numeric_columns(source: str, names: list[str]) -> set[str]:
    """Which of the columns `names` hold only finite numbers (candidate sensor columns)."""
    try:
        table = pd.read_csv(source, usecols=names, skiprows=_comment_lines(source))
    except (ValueError, OSError):
        return set()
    return {n for n in names if table[n].dtype.kind in "iuf" and np.isfinite(table[n].to_numpy(float)).all()}


def _read_numbers_fast(source: str, header: list[str], used: list[int]) -> dict[int, np.ndarray] | None:
    """Column index -> (N,) float64 raw values when the file is clean, else None (no message)."""
    try:
        table = pd.read_csv(source, header=None, skiprows=1 + _comment_lines(source))
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
        table = pd.read_csv(source, header=None, dtype=str, keep_default_na=False, na_filter=False,
                            skiprows=_comment_lines(source))
    except pd.errors.ParserError as e:
        raise UserError(f"{source}: cannot parse CSV: {_parser_problem(e)}") from None
    except UnicodeDecodeError as e:
        raise UserError(f"{source}: cannot read file (not UTF-8 text: byte 0x{e.object[e.start]:02x}); save it as UTF-8") from None
    except OSError as e:
        raise UserError(f"{source}: cannot read file ({one_line(e)})") from None
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
            problem = f"{short(text)!r} is not a finite number"
        else:
            problem = f"{short(text)!r} is not a number"
        raise UserError(f"{source}: {describe_column(header[col], plan)}, row {row + 1}: {problem}")
    return raw


def _comment_lines(source: str) -> int:
    """How many lines starting with `#` come before the header."""
    count = 0
    try:
        with open(source, encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.lstrip().startswith("#"):
                    break
                count += 1
    except OSError:
        return 0
    return count


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _parser_problem(e: Exception) -> str:
    """pandas' tokenizer message, with its file line turned into a data row."""
    message = one_line(e)
    m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
    if m:
        expected, line, saw = map(int, m.groups())
        return f"row {line - 1} has {saw} cells but the header has {expected} columns"
    return message
