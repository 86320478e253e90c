"""Saving a segmentation so later analyses use the same segments.

Two parts, side by side:

- the customer → segment table, as table ``segments`` (or ``segments_<name>``) in the
  DuckDB store: ``customer_id``, ``segment_id``, ``segment``, ``method``, ``as_of``;
- the fitted model, pickled with joblib next to the store file
  (``<store stem>.segments[_<name>].joblib``), with the versions it was made with, so
  that loading it under another scikit-learn or crmkit version fails clearly instead of
  predicting wrongly.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from crmkit.errors import ParameterError, SourceError

__all__ = ["SavedSegmentation", "save_segmentation", "load_segmentation", "FORMAT_VERSION"]

#: Version of the saved-model payload; bumped when its layout changes.
FORMAT_VERSION = 1
_NAME = re.compile(r"^[a-z0-9_]{1,40}$")


def _store_path(store) -> Path:
    if store in (None, ""):
        from crmkit import config

        return config.default_store()
    return Path(store).expanduser()


def _table_name(name) -> str:
    if name in (None, ""):
        return "segments"
    if not isinstance(name, str) or not _NAME.match(name):
        raise ParameterError(
            f"name: expected 1-40 lower-case letters, digits or '_' (it becomes the table segments_<name>), found {name!r}."
        )
    return f"segments_{name}"


def _model_path(store: Path, table: str) -> Path:
    return store.with_name(f"{store.stem}.{table}.joblib")


def _versions() -> dict:
    import sklearn

    import crmkit

    return {"crmkit": crmkit.__version__, "sklearn": sklearn.__version__}


def _write_table(store: Path, table: str, frame: pd.DataFrame) -> None:
    """Replace ``table`` in the DuckDB store with ``frame`` (one transaction)."""
    import duckdb

    try:
        con = duckdb.connect(str(store))
    except duckdb.Error as err:
        raise SourceError(
            f"{store}: cannot open the store for writing ({type(err).__name__}: {err}). "
            "Close what else has it open (a dashboard, another notebook) and save again."
        ) from None
    try:
        con.execute("SET enable_progress_bar = false")
        con.register("_segments_frame", frame)
        con.execute("BEGIN TRANSACTION")
        con.execute(f'CREATE OR REPLACE TABLE "{table}" AS SELECT * FROM _segments_frame ORDER BY customer_id')
        con.execute("COMMIT")
        con.unregister("_segments_frame")
    finally:
        con.close()


def _read_table(store: Path, table: str) -> pd.DataFrame:
    import duckdb

    con = duckdb.connect(str(store), read_only=True)
    try:
        present = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        if table not in present:
            raise SourceError(f"{store}: no table {table!r}; save a segmentation first (crmkit.segment.save_segmentation).")
        frame = con.execute(f'SELECT * FROM "{table}" ORDER BY customer_id').fetch_arrow_table().to_pandas()
    finally:
        con.close()
    return frame


@dataclass(frozen=True, eq=False)
class SavedSegmentation:
    """A segmentation read back from the store: the assignment table and the fitted model.

    ``assignments`` is indexed by customer_id (``segment_id``, ``segment``, ``method``,
    ``as_of``); ``model.predict(features)`` assigns new customers; ``meta`` holds the
    versions and date it was saved with.
    """

    assignments: pd.DataFrame
    model: object
    meta: dict
    table: str

    def predict(self, features) -> pd.Series:
        return self.model.predict(features)

    def summary(self) -> pd.DataFrame:
        a = self.assignments
        out = a.groupby(["segment_id", "segment"]).size().rename("customers").reset_index()
        out["share"] = out["customers"] / len(a)
        return out

    def to_frame(self) -> pd.DataFrame:
        return self.assignments.copy()


def save_segmentation(segmentation, store=None, *, name: str | None = None) -> tuple[Path, Path]:
    """Write a segmentation to the store: table ``segments[_name]`` and the model beside it.

    Parameters
    ----------
    segmentation : Segmentation
    store : path, optional
        The DuckDB store; default :func:`crmkit.config.default_store`. It must exist.
    name : str, optional
        Saves under ``segments_<name>``; default plain ``segments``.

    Returns
    -------
    (store path, model path)
    """
    import joblib

    from crmkit.segment._segmentation import Segmentation

    if not isinstance(segmentation, Segmentation):
        raise ParameterError(f"segmentation: expected a crmkit.segment.Segmentation, found {type(segmentation).__name__}.")
    path = _store_path(store)
    if not path.is_file():
        raise SourceError(f"{path}: no DuckDB store there; create one first (crmkit demo, or crmkit.io.save_store).")
    table = _table_name(name)
    a = segmentation.assignments
    frame = pd.DataFrame(
        {
            "customer_id": a.index.astype("string").to_numpy(dtype=object),
            "segment_id": a["segment_id"].to_numpy(dtype="int64"),
            "segment": a["segment"].astype("string").to_numpy(dtype=object),
            "method": segmentation.method,
            "as_of": segmentation.as_of.date() if segmentation.as_of is not None else None,
        }
    )
    payload = {
        "format_version": FORMAT_VERSION,
        **_versions(),
        "saved_at": dt.datetime.now(dt.timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds"),
        "table": table,
        "method": segmentation.method,
        "as_of": None if segmentation.as_of is None else segmentation.as_of.isoformat(),
        "n_customers": len(frame),
        "features": list(segmentation.features),
        "model": segmentation.model,
    }
    model_path = _model_path(path, table)
    fd, tmp = tempfile.mkstemp(prefix=model_path.name + ".", suffix=".tmp", dir=model_path.parent)
    os.close(fd)
    try:
        joblib.dump(payload, tmp, compress=3)
        _write_table(path, table, frame)
        os.replace(tmp, model_path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path, model_path


def load_segmentation(store=None, *, name: str | None = None) -> SavedSegmentation:
    """Read a saved segmentation back (the table and the model), checking versions.

    Raises
    ------
    crmkit.errors.SourceError
        The store, the table or the model file is missing, or the model was saved by
        another crmkit payload format or scikit-learn version (refit and save again).
    """
    import joblib

    path = _store_path(store)
    if not path.is_file():
        raise SourceError(f"{path}: no DuckDB store there.")
    table = _table_name(name)
    model_path = _model_path(path, table)
    if not model_path.is_file():
        raise SourceError(f"{model_path}: the saved model of {table!r} is missing; save the segmentation again.")
    payload = joblib.load(model_path)
    if not isinstance(payload, dict) or payload.get("format_version") != FORMAT_VERSION:
        found = payload.get("format_version") if isinstance(payload, dict) else type(payload).__name__
        raise SourceError(
            f"{model_path}: expected a crmkit segmentation of format {FORMAT_VERSION}, found {found!r}. "
            "Fit the segmentation again and save it."
        )
    now = _versions()
    if payload.get("sklearn") != now["sklearn"]:
        raise SourceError(
            f"{model_path}: saved with scikit-learn {payload.get('sklearn')}, this is {now['sklearn']}; a pickled model "
            "is only safe under the version that made it. Fit the segmentation again and save it."
        )
    frame = _read_table(path, table)
    if len(frame) != payload.get("n_customers"):
        raise SourceError(
            f"{path}: table {table!r} has {len(frame):,} rows but its model was saved with {payload.get('n_customers'):,}; "
            "the two were not saved together. Save the segmentation again."
        )
    frame["customer_id"] = frame["customer_id"].astype("str")
    frame["segment"] = frame["segment"].astype("string")
    assignments = frame.set_index("customer_id")
    meta = {k: v for k, v in payload.items() if k != "model"}
    return SavedSegmentation(assignments=assignments, model=payload["model"], meta=meta, table=table)
