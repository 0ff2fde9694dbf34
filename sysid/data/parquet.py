"""Reads a Parquet log into a `Log`: the same schema and column map as a CSV log.

Columns must be numbers (integer, float, bool is refused) or, for `time`, a timestamp or duration
(read as seconds). Row N in messages is the N-th row of the table (the first row is row 1).
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sysid.data.listcells import has_lists, load_parquet_lists
from sysid.data.log import Log
from sysid.data.mapfile import ColumnMap, MapEntry
from sysid.data.table import build_log, describe_column, one_line, plan_columns, short
from sysid.errors import UserError
from sysid.inputs import MAX_WHOLE_FILE_BYTES, check_file


def load_parquet(path: str | os.PathLike, *, column_map: ColumnMap | None = None) -> Log:
    """Reads a Parquet log; the file is only read, never written.

    Args:
      path: the `.parquet` file; one row per sample.
      column_map: renames and scales columns, as for `load_csv`.

    Returns:
      A `Log` whose arrays are (N,) float64, N = number of rows.
    """
    if has_lists(column_map):  # `index:` entries read list columns
        return load_parquet_lists(path, column_map)  # type: ignore[arg-type]
    source = os.fspath(check_file(path, what="file", max_bytes=MAX_WHOLE_FILE_BYTES))
    try:
        schema = pq.read_schema(source)
        header = [str(name) for name in schema.names]
    except (OSError, pa.ArrowException, ValueError, UnicodeDecodeError) as e:
        raise UserError(f"{source}: cannot read Parquet file ({one_line(e)})") from None
    numbers = {str(f.name) for f in schema if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)}
    plan = plan_columns(source, header, column_map, numeric=lambda names: _finite_columns(source, numbers & set(names)))
    index = {name: i for i, name in enumerate(header)}
    used = sorted({index[entry.column] for entry in plan.values()})
    try:
        table = pq.read_table(source, columns=[header[i] for i in used])
    except (OSError, pa.ArrowException, ValueError, UnicodeDecodeError) as e:
        raise UserError(f"{source}: cannot read Parquet file ({one_line(e)})") from None
    if table.num_rows == 0:
        raise UserError(f"{source}: no data rows")
    raw = {header[i]: _numbers(source, header[i], table.column(k), plan) for k, i in enumerate(used)}
    first_bad = [(int(np.argmax(~np.isfinite(v))), index[name]) for name, v in raw.items() if not np.isfinite(v).all()]
    if first_bad:
        row, col = min(first_bad)
        column = table.column(used.index(col))
        problem = "empty cell" if column[row].is_valid is False else f"{raw[header[col]][row]:g} is not a finite number"
        raise UserError(f"{source}: {describe_column(header[col], plan)}, row {row + 1}: {problem}")
    return build_log(source, plan, raw)


def _finite_columns(source: str, names: set[str]) -> set[str]:
    """Of these numeric columns, those whose every value is a finite number (as the CSV reader's
    test for a column that may name an MJCF sensor): a column with gaps is not read as one."""
    if not names:
        return set()
    try:
        table = pq.read_table(source, columns=sorted(names))
    except (OSError, pa.ArrowException, ValueError, UnicodeDecodeError) as e:
        raise UserError(f"{source}: cannot read Parquet file ({one_line(e)})") from None
    out = set()
    for name in names:
        values = np.asarray(table.column(name).cast(pa.float64(), safe=False).to_numpy(zero_copy_only=False), dtype=np.float64)
        if np.isfinite(values).all():
            out.add(name)
    return out


def _numbers(source: str, name: str, column: pa.ChunkedArray, plan: dict[str, MapEntry]) -> np.ndarray:
    """(N,) float64 values of one column; nulls become NaN. Non-numeric types raise."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        column, kind = column.cast(kind.value_type), kind.value_type
    if pa.types.is_timestamp(kind) or pa.types.is_duration(kind):
        seconds = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}[kind.unit]
        return column.cast(pa.int64()).to_numpy(zero_copy_only=False).astype(np.float64) * seconds
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        values = column.cast(pa.float64(), safe=False) if not pa.types.is_floating(kind) else column
        return np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)
    sample = next((v for v in column.slice(0, 100).to_pylist() if v is not None), None)
    example = f", e.g. {short(str(sample))!r}" if sample is not None else ""
    raise UserError(f"{source}: {describe_column(name, plan)}: type {kind} is not a number{example}")
