"""Reading CRM extracts into validated :class:`~crmkit.schema.CRMData`; the embedded DuckDB store.

A source is one of

- a folder of CSV or Parquet files, one per table, named as the tables
  (``customers.csv``, ``transactions.parquet`` …);
- an Excel workbook (``.xlsx``), one sheet per table;
- a DuckDB file (``.duckdb``), one table per canonical table — the embedded store
  that ``crmkit demo`` writes to ``data/crmkit.duckdb``;
- an engine URL — ``duckdb:///path.duckdb``, ``postgresql://user@host:port/db``, a
  Spark master such as ``local[*]`` — whose tables are read in place (see
  :func:`connect`, which gives the tables as Ibis expressions on the engine, and
  :func:`write_tables`, which writes a :class:`~crmkit.schema.CRMData` to any engine).

Raw files are never modified. Rows that fail validation are set aside with their
reason (see :mod:`crmkit.validation`); a whole-file problem raises one clear error.

>>> import tempfile, pathlib, pandas as pd
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "customers.csv").write_text("customer_id,created_at\\nc1,2024-01-01\\n")
>>> _ = (folder / "transactions.csv").write_text("order_id,customer_id,ordered_at,amount\\no1,c1,2024-02-01,9.5\\no2,c2,2024-02-02,3\\n")
>>> result = load(folder)
>>> result.report.line()
'3 rows read: 2 used, 1 set aside (1 table with rejects: transactions).'
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from crmkit import config
from crmkit._engines import Connection, connect, is_url, mask_url, write_tables
from crmkit.errors import SourceError
from crmkit.schema import TABLES, CRMData
from crmkit.validation import ValidationReport, validate

__all__ = [
    "Connection",
    "connect",
    "is_url",
    "mask_url",
    "write_tables",
    "LoadResult",
    "load",
    "read_raw",
    "save_store",
    "store_exists",
    "store_info",
    "ensure_demo_store",
    "write_rejects",
    "is_engine_source",
    "opened",
]

_TABULAR = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".tsv": "tsv"}
_META = "_crmkit_meta"


@dataclass(frozen=True)
class LoadResult:
    """What :func:`load` returns: the validated data, the report and the rejects."""

    data: CRMData
    report: ValidationReport
    rejects: pd.DataFrame
    rejected_rows: dict[str, pd.DataFrame] = field(default_factory=dict)
    source: str = ""

    def __iter__(self):  # allows ``data, report = load(...)``
        return iter((self.data, self.report))


def _resolve(source) -> Path:
    if source is None or str(source) == "":
        return config.default_store()
    return Path(source).expanduser()


def _read_delimited(path: Path, sep: str) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise SourceError(f"{path}: the file is empty; expected a header row and data rows.") from None
    except UnicodeDecodeError as err:
        raise SourceError(f"{path}: cannot read the file as UTF-8 text ({err.reason}); save it as UTF-8 CSV.") from None
    except pd.errors.ParserError as err:
        raise SourceError(f"{path}: cannot parse the file as CSV ({str(err).strip()}).") from None
    return df


def _read_file(path: Path, fmt: str) -> pd.DataFrame:
    if fmt == "csv":
        return _read_delimited(path, ",")
    if fmt == "tsv":
        return _read_delimited(path, "\t")
    try:
        return pd.read_parquet(path)
    except Exception as err:  # pyarrow raises several types
        raise SourceError(f"{path}: cannot read the file as Parquet ({type(err).__name__}: {err}).") from None


def _read_folder(folder: Path, tables) -> tuple[dict[str, pd.DataFrame], list[str]]:
    raw: dict[str, pd.DataFrame] = {}
    notes: list[str] = []
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        fmt = _TABULAR.get(path.suffix.lower())
        if fmt is None:
            continue
        name = path.stem.lower()
        if name not in TABLES:
            notes.append(f"{path.name}: not a CRM table name ({', '.join(TABLES)}); ignored.")
            continue
        if name in found:
            raise SourceError(f"{folder}: two files for table {name!r}: {found[name].name} and {path.name}; keep one.")
        found[name] = path
    if not found:
        raise SourceError(
            f"{folder}: no CRM table files found; expected files named like customers.csv or "
            f"transactions.parquet (tables: {', '.join(TABLES)})."
        )
    for name, path in found.items():
        if tables is not None and name not in tables:
            continue
        df = _read_file(path, _TABULAR[path.suffix.lower()])
        if df.shape[1] == 0:
            raise SourceError(f"{path}: the file has no columns; expected a header row.")
        raw[name] = df
    return raw, notes


def _read_excel(path: Path, tables) -> tuple[dict[str, pd.DataFrame], list[str]]:
    try:
        sheets = pd.read_excel(path, sheet_name=None, dtype=object)
    except Exception as err:
        raise SourceError(f"{path}: cannot read the workbook ({type(err).__name__}: {err}).") from None
    raw, notes = {}, []
    for sheet, df in sheets.items():
        name = str(sheet).strip().lower()
        if name not in TABLES:
            notes.append(f"{path.name}: sheet {sheet!r} is not a CRM table name; ignored.")
            continue
        if tables is not None and name not in tables:
            continue
        raw[name] = df
    if not raw and tables is None:
        raise SourceError(f"{path}: no sheet is named like a CRM table ({', '.join(TABLES)}).")
    return raw, notes


def _read_duckdb(path: Path, tables) -> tuple[dict[str, pd.DataFrame], list[str]]:
    import duckdb

    try:
        con = duckdb.connect(str(path), read_only=True)
    except Exception as err:
        raise SourceError(f"{path}: cannot open the DuckDB store ({type(err).__name__}: {err}).") from None
    con.execute("SET enable_progress_bar = false")
    try:
        present = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        names = [t for t in TABLES if t in present and (tables is None or t in tables)]
        if not names and tables is None:
            raise SourceError(f"{path}: the store holds no CRM table; run `crmkit demo` or load an extract.")
        raw = {t: _fetch_arrow(con.execute(f'SELECT * FROM "{t}"')).to_pandas() for t in names}
    finally:
        con.close()
    return raw, []


def _fetch_arrow(cursor):
    # through Arrow is about 4x faster than DuckDB's own pandas conversion for text columns
    fetch = getattr(cursor, "to_arrow_table", None) or cursor.fetch_arrow_table
    return fetch()


def _read_engine(url: str, tables) -> tuple[dict[str, pd.DataFrame], list[str]]:
    with connect(url) as con:
        names = [t for t in TABLES if t in con.tables() and (tables is None or t in tables)]
        if not names and tables is None:
            raise SourceError(f"{con.url}: holds no CRM table; load one with `crmkit demo --to URL`.")
        raw = {t: con.table(t).to_pyarrow().to_pandas() for t in names}
    return raw, []


def read_raw(source=None, *, tables=None) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Read a source's tables as they are, without validation. Returns (tables, notes)."""
    if source is None or str(source) == "":
        source = config.default_source()
    if tables is not None:
        tables = list(tables)
        unknown = [t for t in tables if t not in TABLES]
        if unknown:
            raise SourceError(f"{', '.join(unknown)}: not CRM tables; expected names among {', '.join(TABLES)}.")
    if is_url(source):
        return _read_engine(source, tables)
    path = _resolve(source)
    if not path.exists():
        hint = " Run `crmkit demo` to build the demo store." if path == config.default_store() else ""
        raise SourceError(f"{path}: no such file or folder.{hint}")
    if path.is_dir():
        return _read_folder(path, tables)
    suffix = path.suffix.lower()
    if path.stat().st_size == 0:
        raise SourceError(f"{path}: the file is empty.")
    if suffix in (".xlsx", ".xlsm", ".xls"):
        return _read_excel(path, tables)
    if suffix in (".duckdb", ".db", ".ddb"):
        return _read_duckdb(path, tables)
    if suffix in _TABULAR:
        name = path.stem.lower()
        if name not in TABLES:
            raise SourceError(f"{path}: a single file must be named as a CRM table ({', '.join(TABLES)}).")
        return {name: _read_file(path, _TABULAR[suffix])}, []
    raise SourceError(
        f"{path}: unknown kind of source; expected a folder of CSV/Parquet files, an .xlsx workbook or a .duckdb store."
    )


def load(source=None, *, tables=None) -> LoadResult:
    """Read and validate a CRM extract.

    Parameters
    ----------
    source : path-like or str, optional
        Folder of CSV/Parquet files, ``.xlsx`` workbook, ``.duckdb`` store, or an engine
        URL (``postgresql://…``, ``local[*]`` …: the tables are read from the engine);
        ``None`` or ``""`` means the embedded default store (``data/crmkit.duckdb``).
    tables : list of str, optional
        Read only these tables (references to tables not read are not checked).

    Returns
    -------
    LoadResult
        ``.data`` (CRMData), ``.report`` (ValidationReport), ``.rejects`` (one row
        per set-aside row: table, row, key, column, reason, value).

    Raises
    ------
    SourceError
        The source cannot be read at all (missing, empty, unreadable).
    DataValidationError
        A table lacks a required column.
    """
    if source is None or str(source) == "":
        source = config.default_source()
    path = mask_url(source) if is_url(source) else str(_resolve(source))
    raw, notes = read_raw(source if is_url(source) else path, tables=tables)
    result = validate(raw, source=path)
    report = ValidationReport(
        source=result.report.source, counts=result.report.counts, reasons=result.report.reasons, notes=tuple(notes)
    )
    return LoadResult(
        data=result.data, report=report, rejects=result.rejects, rejected_rows=result.rejected_rows, source=path
    )


def write_rejects(result: LoadResult, folder) -> Path:
    """Write ``rejects.csv`` (one row per set-aside row) and ``<table>.csv`` (the raw rows with ``_row`` and ``_reason``)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.csv"):
        old.unlink()
    result.rejects.to_csv(folder / "rejects.csv", index=False)
    for name, rows in result.rejected_rows.items():
        rows.to_csv(folder / f"{name}.csv", index=False)
    result.report.summary().to_csv(folder / "summary.csv", index=False)
    return folder


def save_store(data: CRMData, path=None, *, meta: dict | None = None) -> Path:
    """Write the tables of ``data`` into a DuckDB store (atomically: a new file replaces the old)."""
    import duckdb
    import pyarrow as pa

    path = _resolve(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.stem + ".", suffix=".tmp.duckdb", dir=path.parent)
    os.close(fd)
    os.unlink(tmp)  # duckdb wants to create the file itself
    try:
        con = duckdb.connect(tmp)
        con.execute("SET enable_progress_bar = false")
        try:
            for name, df in data.tables().items():
                con.register("_frame", pa.Table.from_pandas(df, preserve_index=False))
                con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM _frame')
                con.unregister("_frame")
            info = {"written_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), **(meta or {})}
            con.execute(f'CREATE TABLE "{_META}" (key VARCHAR, value VARCHAR)')
            con.executemany(f'INSERT INTO "{_META}" VALUES (?, ?)', [(k, json.dumps(v)) for k, v in info.items()])
        finally:
            con.close()
        os.replace(tmp, path)
    finally:
        for leftover in (Path(tmp), Path(tmp + ".wal")):
            if leftover.exists():
                leftover.unlink()
    return path


def store_exists(path=None) -> bool:
    return _resolve(path).is_file()


def store_info(path=None) -> dict:
    """The metadata saved with a store (when it was written, the demo seed and size …)."""
    import duckdb

    con = duckdb.connect(str(_resolve(path)), read_only=True)
    try:
        rows = con.execute(f'SELECT key, value FROM "{_META}"').fetchall()
    except duckdb.CatalogException:
        return {}
    finally:
        con.close()
    return {k: json.loads(v) for k, v in rows}


def ensure_demo_store(path=None, n_customers: int = 100_000, seed: int = 0, *, progress: bool = False) -> Path:
    """Build the demo world into the store if the store is absent; return its path."""
    path = _resolve(path)
    if path.is_file():
        return path
    from crmkit import synth

    world = synth.demo_world(n_customers=n_customers, seed=seed, progress=progress)
    return save_store(world.data, path, meta={"kind": "demo", "n_customers": n_customers, "seed": seed})


def is_engine_source(source) -> bool:
    """True for a source read in place on its engine: a DuckDB store file or an engine URL
    (anything else — a folder, a workbook, a CSV/Parquet file — is read into memory)."""
    return is_url(str(source)) or Path(str(source)).suffix.lower() in (".duckdb", ".db", ".ddb")


@contextmanager
def opened(source=None):
    """``source`` ready for crmkit's analyses, closed again afterwards.

    A DuckDB store or engine URL gives a :class:`Connection` (the work runs on the engine);
    a folder or workbook is read and validated with :func:`load` and gives its CRMData;
    anything else (CRMData, a Connection, a dict of tables) is passed through. ``None`` or
    ``""`` is the default source (:func:`crmkit.config.default_source`).
    """
    if source is None or isinstance(source, (str, os.PathLike)):
        source = config.default_source() if source in (None, "") else source
        if is_engine_source(source):
            con = connect(source)
            try:
                yield con
            finally:
                con.close()
            return
        yield load(source).data
        return
    yield source
