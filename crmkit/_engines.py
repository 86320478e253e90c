"""Connections to the engines crmkit runs on: embedded DuckDB, PostgreSQL, Apache Spark.

Public through :mod:`crmkit.io` (``connect``, ``Connection``, ``write_tables``,
``is_url``). A connection hands out the CRM tables as :class:`ibis.Table` objects
bound to their engine, so feature queries run where the data lives.

URLs
----
- ``duckdb:///abs/path/store.duckdb``, ``duckdb://relative/store.duckdb``, ``duckdb://``
  (the embedded store under ``data/``), or a plain path ending in ``.duckdb``.
- ``postgresql://user@host:port/database?schema=crm`` (``postgres://`` too). The
  password comes from the URL or, better, from the environment as libpq reads it
  (``PGPASSWORD``, ``PGPASSFILE``); so do a missing host, port or user (``PGHOST`` …).
- Spark: ``local``, ``local[*]``, ``local[N]`` (a session in this process),
  ``spark://host:7077`` (a standalone master) or ``sc://host:15002`` (Spark Connect).
  Tables are Parquet folders ``<path>/<table>/`` under ``?path=`` (default for a local
  session: ``data/lake``), or tables of a catalog database under ``?database=``.
  Other query keys starting with ``spark.`` become session settings
  (``local[*]?spark.driver.memory=8g``).

Passwords never appear in :attr:`Connection.url`, in messages or in reports.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

import pandas as pd

from crmkit import config
from crmkit.errors import ParameterError, SourceError
from crmkit.schema import TABLES, CRMData

__all__ = ["Connection", "connect", "is_url", "mask_url", "write_tables", "ENGINE_SCHEMES"]

_META = "_crmkit_meta"
_SPARK_LOCAL = re.compile(r"^local(\[(\*|\d+)(,\d+)?\])?$")
ENGINE_SCHEMES = ("duckdb", "postgresql", "postgres", "spark", "sc")


def is_url(source) -> bool:
    """True when ``source`` names an engine (a URL or a Spark master), not a file or folder."""
    if source is None or not isinstance(source, str):
        return False
    head = source.split("?", 1)[0]
    return bool(_SPARK_LOCAL.match(head)) or any(source.startswith(f"{s}://") for s in ENGINE_SCHEMES)


def mask_url(url: str) -> str:
    """``url`` without its password: ``postgresql://ann:secret@db/crm`` → ``postgresql://ann@db/crm``.

    >>> mask_url("postgresql://ann:s3cret@db.example.com:5432/crm?schema=sales")
    'postgresql://ann@db.example.com:5432/crm?schema=sales'
    >>> mask_url("local[*]")
    'local[*]'
    """
    if not isinstance(url, str) or "://" not in url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:  # IPv6
        host = f"[{host}]"
    netloc = f"{parts.username}@{host}" if parts.username else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@dataclass
class Connection:
    """An open connection to an engine holding the CRM tables.

    Attributes
    ----------
    kind : {"duckdb", "postgres", "spark"}
    url : str
        The URL without password — safe to print and to put in a report.
    backend : ibis.BaseBackend
        The Ibis backend; ``backend.sql(...)`` runs SQL of the engine's dialect.
    """

    kind: str
    url: str
    backend: Any
    _tables: dict[str, Any] = field(default_factory=dict, repr=False)
    _owned: Any = field(default=None, repr=False)

    def tables(self) -> dict[str, Any]:
        """The canonical CRM tables present, by name, as Ibis tables on this engine."""
        return dict(self._tables)

    def table(self, name: str):
        """One CRM table as an Ibis table; raises :class:`SourceError` naming what is there."""
        if name not in TABLES:
            raise ParameterError(f"{name!r} is not a CRM table; tables are {', '.join(TABLES)}.")
        try:
            return self._tables[name]
        except KeyError:
            have = ", ".join(self._tables) or "none"
            raise SourceError(f"{self.url}: has no table {name!r} (CRM tables found: {have}).") from None

    def row_counts(self) -> dict[str, int]:
        """Rows per table, counted by the engine."""
        return {n: int(t.count().to_pyarrow().as_py()) for n, t in self._tables.items()}

    def close(self) -> None:
        """Close the connection (a Spark session this connection started is left to Spark's own lifetime)."""
        if self.kind in ("duckdb", "postgres"):
            try:
                self.backend.disconnect()
            except Exception:  # noqa: BLE001 - closing twice is harmless
                pass

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Connection({self.kind}: {self.url}; tables: {', '.join(self._tables) or 'none'})"


# ------------------------------------------------------------------ parsing


def _duckdb_path(source: str) -> Path:
    if source.startswith("duckdb://"):
        rest = unquote(source[len("duckdb://"):].split("?", 1)[0])
        return config.default_store() if rest == "" else Path(rest)
    return Path(source)


def _split_spark(url: str) -> tuple[str, dict[str, str]]:
    head, _, query = url.partition("?")
    return head, dict(parse_qsl(query, keep_blank_values=True))


# ------------------------------------------------------------------ connect


def connect(url=None, *, read_only: bool = True) -> Connection:
    """Open the engine ``url`` names; see the module docstring for the URL forms.

    ``read_only`` applies to DuckDB files (several readers can then share the store).
    """
    if url is None or url == "":
        url = config.default_source()
    if isinstance(url, str) and "://" in url and not is_url(url):
        scheme = url.split("://", 1)[0]
        raise ParameterError(
            f"{scheme}://: unknown engine; expected duckdb://, postgresql://, spark://, sc:// or a local Spark "
            "master such as local[*]."
        )
    if url is None or url == "" or isinstance(url, Path) or (isinstance(url, str) and not is_url(url)):
        path = config.default_store() if url in (None, "") else Path(url)
        if path.is_dir() or path.suffix.lower() not in (".duckdb", ".db", ".ddb"):
            raise SourceError(
                f"{path}: connect() opens a database — duckdb:///path.duckdb, postgresql://user@host/db or a Spark "
                "master such as local[*]; load a folder or workbook with crmkit.io.load instead."
            )
        return _connect_duckdb(path, read_only=read_only)
    if url.startswith("duckdb://"):
        return _connect_duckdb(_duckdb_path(url), read_only=read_only)
    if url.startswith(("postgresql://", "postgres://")):
        return _connect_postgres(url)
    return _connect_spark(url)


def _connect_duckdb(path: Path, *, read_only: bool) -> Connection:
    import ibis

    if str(path) != ":memory:" and read_only and not path.is_file():
        hint = " Run `crmkit demo` to build the demo store." if path == config.default_store() else ""
        raise SourceError(f"{path}: no such DuckDB store.{hint}")
    try:
        backend = ibis.duckdb.connect(str(path), read_only=read_only and str(path) != ":memory:")
    except Exception as err:  # noqa: BLE001 - duckdb raises several kinds
        raise SourceError(f"{path}: cannot open the DuckDB store ({type(err).__name__}: {err}).") from None
    backend.raw_sql("SET enable_progress_bar = false")
    present = set(backend.list_tables())
    tables = {t: backend.table(t) for t in TABLES if t in present}
    return Connection("duckdb", f"duckdb://{path}", backend, tables)


def _postgres_params(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    unknown = set(query) - {"schema", "sslmode", "connect_timeout", "application_name"}
    if unknown:
        raise ParameterError(
            f"{mask_url(url)}: unknown URL option(s) {', '.join(sorted(unknown))}; "
            "expected schema, sslmode, connect_timeout or application_name."
        )
    params: dict[str, Any] = {
        "host": parts.hostname or os.environ.get("PGHOST") or None,
        "port": parts.port or int(os.environ.get("PGPORT", 5432)),
        "user": unquote(parts.username) if parts.username else os.environ.get("PGUSER"),
        # None lets libpq read PGPASSWORD / PGPASSFILE itself.
        "password": unquote(parts.password) if parts.password is not None else None,
        "database": unquote(parts.path.lstrip("/")) or os.environ.get("PGDATABASE"),
        "schema": query.pop("schema", None),
    }
    params.update(query)
    return params


def _connect_postgres(url: str) -> Connection:
    import ibis

    params = _postgres_params(url)
    masked = mask_url(url)
    try:
        backend = ibis.postgres.connect(**params)
    except Exception as err:  # noqa: BLE001 - psycopg raises several kinds
        msg = str(err).replace(params["password"] or "\0", "***")
        raise SourceError(
            f"{masked}: cannot connect to PostgreSQL ({type(err).__name__}: {msg.strip()}). "
            "Give the password in PGPASSWORD (not in a file in the project)."
        ) from None
    schema = params.get("schema")
    present = set(backend.list_tables(database=schema) if schema else backend.list_tables())
    tables = {t: backend.table(t, database=schema) if schema else backend.table(t) for t in TABLES if t in present}
    return Connection("postgres", masked, backend, tables)


def spark_session(master: str, settings: dict[str, str] | None = None):
    """A Spark session for ``master`` (``local[*]``, ``spark://…``, ``sc://…``), in UTC."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("crmkit")
    builder = builder.remote(master) if master.startswith("sc://") else builder.master(master)
    conf = {
        # crmkit keeps times as naive UTC: Spark must not shift them to the machine's zone.
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.showConsoleProgress": "false",
        "spark.ui.enabled": "false",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
    }
    if master.startswith("local"):
        conf["spark.sql.shuffle.partitions"] = str(max(2, 2 * (os.cpu_count() or 2)))
    conf.update(settings or {})
    for key, value in conf.items():
        if master.startswith("sc://") and key.startswith("spark.ui"):
            continue
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    if not master.startswith("sc://"):
        session.sparkContext.setLogLevel("ERROR")
    return session


def _lake_path(master: str, query: dict[str, str]) -> str | None:
    if "path" in query:
        return query["path"]
    if "database" in query:
        return None
    if master.startswith("local"):
        return str(config.data_dir() / "lake")
    raise ParameterError(
        f"{master}: say where the tables are — ?path=<folder of Parquet tables> or ?database=<catalog database>."
    )


def _connect_spark(url: str) -> Connection:
    import ibis

    master, query = _split_spark(url)
    if not (_SPARK_LOCAL.match(master) or master.startswith(("spark://", "sc://"))):
        raise ParameterError(f"{url}: expected a Spark master: local[*], spark://host:7077 or sc://host:15002.")
    settings = {k: v for k, v in query.items() if k.startswith("spark.")}
    unknown = set(query) - set(settings) - {"path", "database"}
    if unknown:
        raise ParameterError(f"{url}: unknown URL option(s) {', '.join(sorted(unknown))}; expected path, database or spark.*.")
    try:
        session = spark_session(master, settings)
    except Exception as err:  # noqa: BLE001 - py4j/JVM errors
        raise SourceError(f"{master}: cannot start a Spark session ({type(err).__name__}: {err}). Spark needs Java 17.") from None
    backend = ibis.pyspark.connect(session)
    path = _lake_path(master, query)
    tables: dict[str, Any] = {}
    if path is not None:
        for name in TABLES:
            folder = f"{path.rstrip('/')}/{name}"
            if "://" not in path and not Path(folder).is_dir():
                continue
            try:
                frame = session.read.parquet(folder)
            except Exception:  # noqa: BLE001 - a table not in the lake
                continue
            view = f"crmkit_{name}"
            frame.createOrReplaceTempView(view)
            tables[name] = backend.table(view)
        where = f"path={path}"
    else:
        database = query["database"]
        present = set(backend.list_tables(database=database))
        tables = {t: backend.table(t, database=database) for t in TABLES if t in present}
        where = f"database={database}"
    shown = master + "?" + where
    return Connection("spark", shown, backend, tables, _owned=session)


# ------------------------------------------------------------------ writing


def _arrow(df: pd.DataFrame):
    import pyarrow as pa

    table = pa.Table.from_pandas(df, preserve_index=False)
    # Microsecond times (what PostgreSQL and Spark store) and plain strings for every engine.
    fields = []
    for f in table.schema:
        t = f.type
        if pa.types.is_timestamp(t):
            t = pa.timestamp("us")
        elif pa.types.is_large_string(t) or getattr(pa.types, "is_string_view", lambda _: False)(t):
            t = pa.string()
        fields.append(pa.field(f.name, t))
    return table.cast(pa.schema(fields), safe=False)


def write_tables(data: CRMData, url, *, meta: dict | None = None) -> str:
    """Write every table of ``data`` to the engine ``url`` names, replacing tables of the same name.

    DuckDB: an atomic new store file (:func:`crmkit.io.save_store`). PostgreSQL: one table
    per CRM table in the URL's schema. Spark: one Parquet folder per table under
    ``?path=`` (or managed tables in ``?database=``). Returns the URL without password.
    """
    info = {**(meta or {})}
    if url is None or url == "" or isinstance(url, Path) or url.startswith("duckdb://") or not is_url(url):
        from crmkit.io import save_store

        path = _duckdb_path(url) if isinstance(url, str) and url.startswith("duckdb://") else (
            config.default_store() if url in (None, "") else Path(url)
        )
        return f"duckdb://{save_store(data, path, meta=info)}"
    if url.startswith(("postgresql://", "postgres://")):
        return _write_postgres(data, url, info)
    return _write_spark(data, url, info)


def _meta_frame(info: dict) -> pd.DataFrame:
    import datetime as dt

    info = {"written_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), **info}
    return pd.DataFrame({"key": list(info), "value": [json.dumps(v) for v in info.values()]})


def _write_postgres(data: CRMData, url: str, info: dict) -> str:
    params = _postgres_params(url)
    schema = params.get("schema")
    con = _connect_postgres(url)
    try:
        backend = con.backend
        if schema:
            backend.raw_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        for name, df in [*data.tables().items(), (_META, _meta_frame(info))]:
            table = _arrow(df)
            backend.create_table(name, table, database=schema, overwrite=True)
    finally:
        con.close()
    return mask_url(url)


def _write_spark(data: CRMData, url: str, info: dict) -> str:
    import pyarrow.parquet as pq

    master, query = _split_spark(url)
    path = _lake_path(master, query)
    tables = [*data.tables().items(), (_META, _meta_frame(info))]
    if path is not None and "://" not in path:
        # A local or shared folder: write the Parquet files directly, no JVM round trip.
        import shutil

        for name, df in tables:
            folder = Path(path) / name
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
            pq.write_table(_arrow(df), folder / "part-00000.parquet")
        return f"{master}?path={path}"
    settings = {k: v for k, v in query.items() if k.startswith("spark.")}
    session = spark_session(master, settings)
    for name, df in tables:
        frame = session.createDataFrame(_arrow(df))
        if path is not None:
            frame.write.mode("overwrite").parquet(f"{path.rstrip('/')}/{name}")
        else:
            frame.write.mode("overwrite").saveAsTable(f"{query['database']}.{name}")
    return url
