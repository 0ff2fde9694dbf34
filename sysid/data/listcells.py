"""List-valued cells: map entries with `index:` read one element of a column holding a list per row.

Some loggers write a whole state vector per row: a CSV cell `"[0.1, 0.2, 0.3]"`, a Parquet list
column, a LeRobot `observation.state` vector. A map entry names the column and the element::

    shoulder.pos: {column: positions, index: 0}
    elbow.pos: {column: positions, index: 1}
    shoulder_motor.ctrl: {column: action, index: 0}

Each such entry becomes a virtual column `positions[0]` of plain numbers; the table rules of
`sysid.data.table` (units, time checks, messages naming file, column and row) then apply unchanged.
Every row's list must have the same length; row N in messages is the N-th data row.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sysid.data.log import Log
from sysid.data.mapfile import ColumnMap
from sysid.data.table import build_log, list_names, one_line, plan_columns, short
from sysid.errors import UserError

_SEPARATOR = re.compile(r"[,;\s]+")


def has_lists(column_map: ColumnMap | None) -> bool:
    """True when some entry of the map reads a list element (`index:`)."""
    return column_map is not None and any(e.index is not None for e in column_map.entries)


def virtual_name(column: str, index: int) -> str:
    """The name of element `index` of list column `column`, as used in messages: `positions[3]`."""
    return f"{column}[{index}]"


def parse_list_cells(source: str, column: str, cells: list[str]) -> np.ndarray:
    """(N, K) float64 from N text cells like `"[0.1, 0.2]"`, `"0.1 0.2"` or `"(0.1; 0.2)"`.

    Raises UserError naming the file, column and first bad row (an empty cell, a non-number, or a
    list whose length differs from row 1's).
    """
    rows = []
    for row, cell in enumerate(cells, start=1):
        text = str(cell).strip().strip("[]()").strip()
        parts = [p for p in _SEPARATOR.split(text) if p]
        if not parts:
            raise UserError(f"{source}: column {column!r}, row {row}: empty list cell")
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise UserError(f"{source}: column {column!r}, row {row}: {short(str(cell))!r} is not a list of numbers") from None
        if rows and len(values) != len(rows[0]):
            raise UserError(f"{source}: column {column!r}, row {row}: {len(values)} elements, but row 1 has {len(rows[0])}")
        rows.append(values)
    return np.asarray(rows, dtype=np.float64)


def expand_lists(source: str, header: list[str], column_map: ColumnMap,
                 read_matrix: Callable[[str], np.ndarray]) -> tuple[list[str], ColumnMap, dict[str, np.ndarray]]:
    """Virtual columns for the map's `index:` entries.

    Args:
      source: the log file, for messages.
      header: the table's column names.
      column_map: the map; its `index:` entries are rewritten to read virtual columns.
      read_matrix: list column name -> (N, K) values.
    Returns:
      (header with each list column replaced by its used elements, the rewritten map,
      virtual column name -> (N,) values).
    """
    listed = list(dict.fromkeys(e.column for e in column_map.entries if e.index is not None))
    for column in listed:
        if column not in header:
            target = next(e.target for e in column_map.entries if e.column == column)
            raise UserError(f"{column_map.source}: entry {target!r}: column {column!r} is not in {source}; "
                            f"columns: {list_names(header)}")
    matrices = {column: read_matrix(column) for column in listed}
    entries, raw = [], {}
    for entry in column_map.entries:
        if entry.index is None:
            entries.append(entry)
            continue
        matrix = matrices[entry.column]
        if entry.index >= matrix.shape[1]:
            raise UserError(f"{column_map.source}: entry {entry.target!r}: index {entry.index} is past the end of "
                            f"column {entry.column!r} in {source}, whose lists have {matrix.shape[1]} elements (index 0 first)")
        name = virtual_name(entry.column, entry.index)
        raw[name] = np.ascontiguousarray(matrix[:, entry.index])
        entries.append(dataclasses.replace(entry, column=name, index=None))
    scalar = {e.column for e in column_map.entries if e.index is None}  # a list column read without index: its own error
    header = [h for h in header if h not in matrices or h in scalar] + list(raw)
    return header, ColumnMap(column_map.source, tuple(entries)), raw


def load_csv_lists(path: str | os.PathLike, column_map: ColumnMap) -> Log:
    """A CSV log whose map reads list cells; see `sysid.data.csv.load_csv` for the rest."""
    from sysid.data.csv import _comment_lines, _read_header, _read_numbers_checked

    source = os.fspath(path)
    header = _read_header(source)
    try:
        table = pd.read_csv(source, header=None, dtype=str, keep_default_na=False, na_filter=False,
                            skiprows=1 + _comment_lines(source))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as e:
        raise UserError(f"{source}: cannot parse CSV: {one_line(e)}") from None
    if len(table) == 0:
        raise UserError(f"{source}: no data rows, only a header")
    column_of = {name: i for i, name in enumerate(header)}
    vheader, vmap, raw = expand_lists(source, header, column_map,
                                      lambda c: parse_list_cells(source, c, table[column_of[c]].tolist()))
    plan = plan_columns(source, vheader, vmap)
    scalar = sorted({column_of[e.column] for e in plan.values() if e.column not in raw})
    if scalar:
        numbers = _read_numbers_checked(source, header, scalar, plan)
        raw.update({header[i]: values for i, values in numbers.items()})
    return build_log(source, plan, raw)


def load_parquet_lists(path: str | os.PathLike, column_map: ColumnMap) -> Log:
    """A Parquet log whose map reads list columns (`list<double>` and the like, e.g. a LeRobot
    episode file's `observation.state`); see `sysid.data.parquet.load_parquet` for the rest."""
    from sysid.data.parquet import _numbers

    source = os.fspath(path)
    if not os.path.exists(source):
        raise UserError(f"{source}: file not found")
    try:
        table = pq.read_table(source)
    except (OSError, pa.ArrowException, ValueError, UnicodeDecodeError) as e:
        raise UserError(f"{source}: cannot read Parquet file ({one_line(e)})") from None
    if table.num_rows == 0:
        raise UserError(f"{source}: no data rows")
    header = [str(name) for name in table.column_names]
    vheader, vmap, raw = expand_lists(source, header, column_map, lambda c: _list_matrix(source, c, table.column(c)))
    plan = plan_columns(source, vheader, vmap)
    for entry in plan.values():
        if entry.column not in raw:
            raw[entry.column] = _numbers(source, entry.column, table.column(entry.column), plan)
    for name, values in raw.items():
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise UserError(f"{source}: column {name!r}, row {bad[0] + 1}: empty or not a finite number")
    return build_log(source, plan, raw)


def _list_matrix(source: str, name: str, column: pa.ChunkedArray) -> np.ndarray:
    """(N, K) float64 of a Parquet list column; rows of different lengths or nulls raise."""
    if not (pa.types.is_list(column.type) or pa.types.is_large_list(column.type) or pa.types.is_fixed_size_list(column.type)):
        raise UserError(f"{source}: column {name!r}: type {column.type} is not a list; drop 'index' for a column of numbers")
    rows = column.to_pylist()
    for row, value in enumerate(rows, start=1):
        if value is None:
            raise UserError(f"{source}: column {name!r}, row {row}: empty cell")
        if len(value) != len(rows[0]):
            raise UserError(f"{source}: column {name!r}, row {row}: {len(value)} elements, but row 1 has {len(rows[0])}")
    return np.asarray([[np.nan if v is None else v for v in value] for value in rows], dtype=np.float64)
