"""The same crmkit on the embedded DuckDB store, a real PostgreSQL server and a local Spark session.

The small demo world (2,000 customers, seed 0) is written to each engine with
``crmkit demo --to URL``; the customer-level features computed by each engine must
agree with each other to 1e-9. The servers are real (see ``tests/_servers.py``).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from _servers import postgres_server, require_spark
from conftest import SMALL_WORLD
from crmkit import features, io, report
from crmkit.cli import main
from crmkit.errors import ParameterError, SourceError

AS_OF = "2025-03-31"


def _demo_to(url: str) -> str:
    result = CliRunner().invoke(
        main, ["demo", "--to", url, "--customers", str(SMALL_WORLD["n_customers"]), "--seed", str(SMALL_WORLD["seed"])]
    )
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def postgres():
    with postgres_server() as pg:
        old = os.environ.get("PGPASSWORD")
        os.environ["PGPASSWORD"] = pg["password"]
        try:
            output = _demo_to(pg["url"] + "?schema=crm")
            assert pg["password"] not in output
            yield {**pg, "url": pg["url"] + "?schema=crm"}
        finally:
            if old is None:
                os.environ.pop("PGPASSWORD", None)
            else:
                os.environ["PGPASSWORD"] = old


@pytest.fixture(scope="module")
def spark_url(tmp_path_factory):
    master = require_spark()
    url = f"{master}?path={tmp_path_factory.mktemp('lake')}"
    _demo_to(url)
    return url


@pytest.fixture(scope="module")
def engines(demo_store, postgres, spark_url):
    cons = {
        "duckdb": io.connect(f"duckdb://{demo_store}"),
        "postgres": io.connect(postgres["url"]),
        "spark": io.connect(spark_url),
    }
    yield cons
    for con in cons.values():
        con.close()


def test_demo_to_url_writes_every_table_to_every_engine(engines, small_world):
    want = small_world.data.row_counts()
    for kind, con in engines.items():
        assert con.kind == kind
        assert con.row_counts() == want, kind


@pytest.mark.parametrize("time_unit", ["D", "W", "M"])
def test_rfm_summary_is_the_same_on_every_engine(engines, time_unit):
    results = {
        kind: features.rfm_summary(con.table("transactions"), observation_end=AS_OF, time_unit=time_unit)
        for kind, con in engines.items()
    }
    base = results.pop("duckdb")
    assert len(base) > 1_000
    for kind, got in results.items():
        assert list(got.index) == list(base.index), kind
        np.testing.assert_allclose(got.to_numpy(), base.to_numpy(), rtol=1e-9, atol=1e-9, err_msg=kind)


def test_customer_features_are_the_same_on_every_engine(engines, small_world):
    results = {kind: features.customer_features(con, as_of=AS_OF) for kind, con in engines.items()}
    base = results.pop("duckdb")
    # and the same as on the in-memory data
    pd.testing.assert_frame_equal(features.customer_features(small_world.data, as_of=AS_OF), base, rtol=1e-9)
    for kind, got in results.items():
        assert list(got.columns) == list(base.columns), kind
        pd.testing.assert_frame_equal(got, base, rtol=1e-9, atol=1e-9, obj=kind)


def test_load_reads_and_validates_an_engine(postgres, small_world):
    result = io.load(postgres["url"], tables=["customers", "transactions"])
    assert result.report.rows_set_aside == 0
    assert len(result.data.transactions) == len(small_world.data.transactions)
    assert result.source == postgres["url"]


def test_passwords_are_never_shown(postgres, monkeypatch):
    monkeypatch.delenv("PGPASSWORD")
    host = postgres["url"].split("@", 1)[1]
    wrong = f"postgresql://crmkit:Wr0ngSecret@{host}"
    with pytest.raises(SourceError) as err:
        io.connect(wrong)
    assert "Wr0ngSecret" not in str(err.value) and "postgresql://crmkit@" in str(err.value)
    with io.connect(f"postgresql://crmkit:{postgres['password']}@{host}") as con:
        assert postgres["password"] not in con.url and postgres["password"] not in repr(con)
        assert "customers" in con.tables()


def test_connect_says_what_it_expects(tmp_path):
    with pytest.raises(SourceError, match="connect\\(\\) opens a database"):
        io.connect(tmp_path)
    with pytest.raises(SourceError, match="no such DuckDB store"):
        io.connect(f"duckdb://{tmp_path / 'missing.duckdb'}")
    with pytest.raises(ParameterError, match="unknown URL option"):
        io.connect("postgresql://ann@127.0.0.1:1/crm?colour=red")
    with pytest.raises(ParameterError, match="unknown engine"):
        io.connect("sparc://nowhere")
    assert io.is_url("local[*]") and io.is_url("sc://host:15002") and not io.is_url("data/crmkit.duckdb")


@pytest.fixture()
def pack(tmp_path):
    return tmp_path / "reports"


def test_customer_overview_renders_from_postgres_with_the_password_kept_out(postgres, pack, monkeypatch):
    monkeypatch.delenv("PGPASSWORD")  # the password comes in the URL and must reach the kernel another way
    secret_url = postgres["url"].replace("postgresql://crmkit@", f"postgresql://crmkit:{postgres['password']}@")
    run = report.run_report("customer_overview", {"source": secret_url}, reports_dir=pack, progress=False)
    assert run.ok
    for path in (run.html_path, run.notebook_path, pack / "index.html", pack / "customer_overview.run.json"):
        text = path.read_text()
        assert postgres["password"] not in text, path.name
    html = run.html_path.read_text()
    assert "postgresql://crmkit@127.0.0.1" in html
    assert "2,000 customers" in html or "customers" in html


def test_customer_overview_renders_from_spark(spark_url, pack):
    run = report.run_report("customer_overview", {"source": spark_url}, reports_dir=pack, progress=False)
    assert run.ok
    assert "local[2]?path=" in run.html_path.read_text()


def test_a_dashboard_reads_an_engine_url_through_its_environment(postgres, monkeypatch):
    from crmkit.dashboards import OverviewApp, dashboard_env

    host = postgres["url"].split("@", 1)[1]
    env = dashboard_env(f"postgresql://crmkit:{postgres['password']}@{host}", base={})
    assert env["CRMKIT_SOURCE"] == f"postgresql://crmkit@{host}" and env["PGPASSWORD"] == postgres["password"]
    monkeypatch.setenv("CRMKIT_SOURCE", env["CRMKIT_SOURCE"])
    app = OverviewApp()  # no source named: the kernel's environment names it
    assert app.data_ is not None and len(app.data_.customers) == 2_000
