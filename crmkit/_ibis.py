"""Private helpers for building Ibis expressions from whatever the caller hands us.

Analyses accept a pandas DataFrame (wrapped with :func:`ibis.memtable`, so it runs on
Ibis' default DuckDB backend) or an :class:`ibis.Table` bound to any backend (a table
of the embedded DuckDB store, PostgreSQL, Spark …). Checks here only look at names and
types (the schema), never at the data, so they cost nothing on a remote backend.
"""

from __future__ import annotations

from typing import Mapping

import ibis
import ibis.expr.datatypes as dt
import pandas as pd
import pyarrow as pa

from crmkit.errors import DataValidationError, ParameterError

__all__ = [
    "as_table",
    "table_of",
    "check_datetime",
    "check_numeric",
    "to_naive_timestamp",
    "timestamp_literal",
    "date_literal",
]


def _names(columns) -> str:
    return ", ".join(repr(str(c)) for c in columns)


def as_table(obj, *, what: str, columns: Mapping[str, str]) -> ibis.Table:
    """``obj`` as an Ibis table, after checking that it has ``columns``.

    Parameters
    ----------
    obj : pandas.DataFrame or ibis.Table
        The caller's data. Of a DataFrame only the needed columns are converted to
        Arrow (record batches of DuckDB's row-group size) and wrapped with
        :func:`ibis.memtable`; the caller's frame is never modified.
    what : str
        The table's name in messages (``"transactions"``).
    columns : mapping of str to str
        ``{column name: argument that names it}``, e.g. ``{"amount": "monetary_col"}``.
    """
    if isinstance(obj, pd.DataFrame):
        found = list(obj.columns)
    elif isinstance(obj, ibis.Table):
        found = list(obj.columns)
    else:
        raise ParameterError(
            f"{what}: expected a pandas DataFrame or an ibis Table, found {type(obj).__name__}."
        )
    for col, arg in columns.items():
        if col not in found:
            fix = f"Rename the column or pass {arg}='<your column>'." if arg else "Rename the column to the data model's name."
            raise DataValidationError(
                f"{what}: expected a column {col!r}, found columns {_names(found) or 'none'}. {fix}"
            )
    if isinstance(obj, pd.DataFrame):
        return ibis.memtable(_to_arrow(obj[list(dict.fromkeys(columns))], what=what))
    return obj


# DuckDB scans an Arrow table one record batch per thread; a frame converted in one
# piece is one batch, and the whole query then runs on one core (3x slower at 10M rows
# on 2 cores). Batches of DuckDB's row-group size keep every core busy.
_BATCH_ROWS = 122_880


def _to_arrow(frame: pd.DataFrame, *, what: str) -> pa.Table:
    """``frame`` as an Arrow table in batches of :data:`_BATCH_ROWS` rows."""
    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        for col in frame.columns:
            try:
                pa.array(frame[col], from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
                raise DataValidationError(
                    f"{what}.{col}: expected values of one type, found a mix ({exc}). "
                    f"Convert the column to one type first."
                ) from None
        raise
    return pa.Table.from_batches(table.to_batches(max_chunksize=_BATCH_ROWS), schema=table.schema)


def check_datetime(table: ibis.Table, col: str, *, what: str) -> None:
    """Raise unless ``table[col]`` is a timezone-naive date or timestamp."""
    typ = table[col].type()
    if typ.is_date():
        return
    if typ.is_timestamp():
        if typ.timezone is not None:
            raise DataValidationError(
                f"{what}.{col}: expected a timezone-naive date-time (crmkit keeps times as naive UTC), "
                f"found {typ}. Convert it first, e.g. "
                f"df[{col!r}] = df[{col!r}].dt.tz_convert('UTC').dt.tz_localize(None)."
            )
        return
    raise DataValidationError(
        f"{what}.{col}: expected a date or date-time, found type {typ}. Convert it first, e.g. "
        f"df[{col!r}] = pd.to_datetime(df[{col!r}], format='%Y-%m-%d')."
    )


def check_numeric(table: ibis.Table, col: str, *, what: str) -> None:
    """Raise unless ``table[col]`` holds numbers (integers, floats or decimals; not booleans)."""
    typ = table[col].type()
    if not typ.is_numeric() or typ.is_boolean():
        raise DataValidationError(
            f"{what}.{col}: expected a number, found type {typ}. Convert it first, e.g. "
            f"df[{col!r}] = pd.to_numeric(df[{col!r}])."
        )


def to_naive_timestamp(value, *, name: str) -> pd.Timestamp:
    """``value`` (str, date, datetime, Timestamp) as a timezone-naive UTC :class:`pandas.Timestamp`."""
    if isinstance(value, pd.Period):
        value = value.to_timestamp()
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{name}: expected a date or date-time, found {value!r} ({exc}).") from None
    if ts is pd.NaT:
        raise ParameterError(f"{name}: expected a date or date-time, found a missing value ({value!r}).")
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts


def table_of(data, name: str, columns, optional=()) -> ibis.Table | None:
    """Table ``name`` of ``data`` as an Ibis table with ``columns``, or None if the table is absent.

    ``data`` is a :class:`~crmkit.schema.CRMData` (its frames become memtables on Ibis'
    default DuckDB), a :class:`crmkit.io.Connection` (tables stay on their engine), or a
    mapping of table name to DataFrame or Ibis table. Of a DataFrame only ``columns`` and
    those of ``optional`` that exist are converted; a missing column of ``columns``
    raises :class:`~crmkit.errors.DataValidationError` naming table and column.
    """
    if isinstance(data, Mapping):
        obj = data.get(name)
    elif hasattr(data, "tables") and callable(data.tables):
        obj = data.tables().get(name)
    else:
        raise ParameterError(
            f"data: expected CRMData, a crmkit.io.Connection or a mapping of tables, found {type(data).__name__}."
        )
    if obj is None:
        return None
    found = set(obj.columns) if isinstance(obj, (pd.DataFrame, ibis.Table)) else set()
    wanted = list(columns) + [c for c in optional if c in found and c not in columns]
    return as_table(obj, what=name, columns={c: "" for c in wanted})


def date_literal(ts: pd.Timestamp) -> ibis.Scalar:
    """An Ibis date literal for the calendar day of ``ts``."""
    return ibis.literal(ts.date(), type=dt.date)


def timestamp_literal(ts: pd.Timestamp) -> ibis.Scalar:
    """An Ibis timestamp literal (microsecond precision, what every backend stores)."""
    return ibis.literal(ts.to_pydatetime(), type=dt.timestamp)
