"""crmkit.io: reading folders, workbooks and the DuckDB store; whole-file errors; the store."""

from __future__ import annotations

import pandas as pd
import pytest

from crmkit import io
from crmkit.errors import DataValidationError, SourceError


@pytest.fixture
def extract(small_world, tmp_path):
    """A CSV extract of three tables of the small world, with four broken rows."""
    folder = tmp_path / "extract"
    folder.mkdir()
    data = small_world.data
    customers = data.customers.head(200).copy()
    ids = set(customers["customer_id"])
    tx = data.transactions[data.transactions["customer_id"].isin(ids)].head(500).astype(object).copy()
    tx.iloc[3, tx.columns.get_loc("amount")] = "N/A"
    tx.iloc[7, tx.columns.get_loc("ordered_at")] = "31/12/2024"
    tx.iloc[11, tx.columns.get_loc("customer_id")] = "NO-SUCH-CUSTOMER"
    consents = data.consents[data.consents["customer_id"].isin(ids)].astype(object).copy()
    consents.iloc[0, consents.columns.get_loc("channel")] = "fax"
    customers.to_csv(folder / "customers.csv", index=False)
    tx.to_csv(folder / "transactions.csv", index=False)
    consents.to_csv(folder / "consents.csv", index=False)
    (folder / "notes.csv").write_text("a,b\n1,2\n")
    return folder, {"customers": len(customers), "transactions": len(tx), "consents": len(consents)}


def test_csv_folder_sets_aside_broken_rows_and_conserves_rows(extract):
    folder, sizes = extract
    result = io.load(folder)
    counts = result.report.summary().set_index("table")
    for name, n in sizes.items():
        assert counts.loc[name, "rows_in"] == n
        assert counts.loc[name, "rows_used"] + counts.loc[name, "rows_set_aside"] == n
    rej = result.rejects.set_index(["table", "row"])
    assert rej.loc[("transactions", 4), "reason"] == "expected a number ≥ 0, found 'N/A'"
    assert rej.loc[("transactions", 8), "column"] == "ordered_at"
    assert rej.loc[("transactions", 12), "reason"] == "customer_id not found in customers.customer_id"
    assert rej.loc[("consents", 1), "column"] == "channel"
    assert result.report.rows_set_aside == 4
    assert any("notes.csv" in n and "ignored" in n for n in result.report.notes)


def test_parquet_excel_and_store_give_the_same_data(small_world, tmp_path):
    data = small_world.data
    tables = {"customers": data.customers.head(50), "campaigns": data.campaigns}
    tables["transactions"] = data.transactions[data.transactions["customer_id"].isin(tables["customers"]["customer_id"])]
    pq = tmp_path / "pq"
    pq.mkdir()
    for name, df in tables.items():
        df.to_parquet(pq / f"{name}.parquet")
    xlsx = tmp_path / "extract.xlsx"
    with pd.ExcelWriter(xlsx) as writer:
        for name, df in tables.items():
            df.to_excel(writer, sheet_name=name, index=False)
    store = io.save_store(io.load(pq).data, tmp_path / "s.duckdb")
    results = [io.load(p) for p in (pq, xlsx, store)]
    for r in results:
        assert r.report.ok, str(r.report)
    for name in tables:
        expected = results[0].data[name].reset_index(drop=True)
        for other in results[1:]:
            got = other.data[name][expected.columns].reset_index(drop=True)
            pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-12)


def test_store_round_trip_keeps_every_table(small_world, demo_store):
    result = io.load(demo_store)
    assert result.report.ok, str(result.report)
    assert result.data.row_counts() == small_world.data.row_counts()
    assert io.store_info(demo_store)["n_customers"] == 2_000


def test_tables_argument_reads_only_those(demo_store):
    result = io.load(demo_store, tables=["customers", "transactions"])
    assert set(result.data.tables()) == {"customers", "transactions"}


def _write(path, content):
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: d / "missing", r"missing: no such file or folder"),
        (lambda d: _write(d / "customers.csv", ""), r"customers.csv: the file is empty"),
        (lambda d: _write(d / "x.txt", "hello").parent, r"no CRM table files found; expected files named like"),
        (lambda d: _write(d / "transactions.parquet", b"not parquet").parent, r"transactions.parquet: cannot read the file as Parquet"),
        (lambda d: _write(d / "data.json", "{}"), r"data.json: unknown kind of source"),
        (lambda d: _write(d / "customers.csv", "customer_id,created_at\n").parent, None),
    ],
)
def test_whole_file_problems_are_one_clear_error_naming_the_file(tmp_path, make, message):
    if message is None:  # a header without rows is an empty table, not an error
        assert io.load(make(tmp_path)).report.rows_in == 0
        return
    with pytest.raises(SourceError, match=message):
        io.load(make(tmp_path))


def test_missing_required_column_names_the_table_and_file(tmp_path):
    (tmp_path / "transactions.csv").write_text("order_id,customer_id,amount\no1,c1,3\n")
    with pytest.raises(DataValidationError, match=r"transactions \(.*\): expected the required column ordered_at"):
        io.load(tmp_path)


def test_default_store_missing_says_how_to_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("CRMKIT_STORE", str(tmp_path / "none.duckdb"))
    with pytest.raises(SourceError, match="crmkit demo"):
        io.load()


def test_write_rejects(extract, tmp_path):
    folder, _ = extract
    result = io.load(folder)
    out = io.write_rejects(result, tmp_path / "rejects")
    rejects = pd.read_csv(out / "rejects.csv")
    assert len(rejects) == result.report.rows_set_aside
    raw = pd.read_csv(out / "transactions.csv", dtype=str, keep_default_na=False)
    assert set(raw["_row"].astype(int)) == {4, 8, 12}
    assert "N/A" in set(raw["amount"])


def test_save_store_replaces_atomically(small_world, tmp_path):
    path = tmp_path / "store.duckdb"
    io.save_store(small_world.data, path, meta={"n": 1})
    io.save_store(small_world.data, path, meta={"n": 2})
    assert io.store_info(path)["n"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.duckdb"]
