"""The crmkit command: help for every command, demo, validate."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
from click.testing import CliRunner

from crmkit.cli import main

COMMANDS = ["run", "demo", "validate", "report", "dashboard"]


def test_help_lists_the_commands():
    out = CliRunner().invoke(main, ["--help"])
    assert out.exit_code == 0
    for cmd in COMMANDS:
        assert f"  {cmd}" in out.output


@pytest.mark.parametrize("cmd", COMMANDS)
def test_each_command_has_help(cmd):
    out = CliRunner().invoke(main, [cmd, "--help"])
    assert out.exit_code == 0, out.output
    assert "Usage: main" in out.output or "Usage:" in out.output


def test_console_script_is_installed():
    out = subprocess.run([sys.executable, "-m", "crmkit.cli", "--help"], capture_output=True, text=True, check=True)
    assert "validate" in out.stdout


def test_demo_builds_once(tmp_path):
    store = tmp_path / "demo.duckdb"
    first = CliRunner().invoke(main, ["demo", "--customers", "300", "--store", str(store)])
    assert first.exit_code == 0, first.output
    assert store.is_file()
    again = CliRunner().invoke(main, ["demo", "--customers", "300", "--store", str(store)])
    assert "already present" in again.output


def test_validate_prints_summary_and_writes_rejects(tmp_path):
    src = tmp_path / "extract"
    src.mkdir()
    pd.DataFrame({"customer_id": ["c1", "c2", "c2"], "created_at": ["2024-01-01", "2024-01-02", "2024-01-03"]}).to_csv(
        src / "customers.csv", index=False
    )
    pd.DataFrame(
        {"order_id": ["o1", "o2", "o3"], "customer_id": ["c1", "c3", "c2"], "ordered_at": ["2024-02-01"] * 3, "amount": ["1", "2", "-3"]}
    ).to_csv(src / "transactions.csv", index=False)
    rejects = tmp_path / "rejects"
    out = CliRunner().invoke(main, ["validate", str(src), "--rejects", str(rejects)])
    assert out.exit_code == 0, out.output
    assert "6 rows read: 3 used, 3 set aside" in out.output
    assert "transactions.customer_id: customer_id not found in customers.customer_id in 1 of 3 rows (first: row 2" in out.output
    assert "customers.customer_id: duplicate customer_id (first seen in row 2)" in out.output
    written = pd.read_csv(rejects / "rejects.csv")
    assert sorted(zip(written["table"], written["row"])) == [("customers", 3), ("transactions", 2), ("transactions", 3)]
    strict = CliRunner().invoke(main, ["validate", str(src), "--rejects", str(rejects), "--strict"])
    assert strict.exit_code == 1


def test_validate_whole_file_problem_is_a_message_not_a_traceback(tmp_path):
    (tmp_path / "customers.csv").write_text("")
    out = CliRunner().invoke(main, ["validate", str(tmp_path)])
    assert out.exit_code == 2
    assert "customers.csv: the file is empty" in out.output
    assert "Traceback" not in out.output


def test_run_is_the_main_job(tmp_path, monkeypatch):
    """`crmkit run` in a fresh project folder: builds the store, renders every report, says where to look."""
    import shutil

    from crmkit import config

    shutil.copytree(config.notebooks_dir(), tmp_path / "notebooks")
    monkeypatch.setenv("CRMKIT_HOME", str(tmp_path))
    monkeypatch.delenv("CRMKIT_STORE", raising=False)
    out = CliRunner().invoke(main, ["run", "--customers", "500"])
    assert out.exit_code == 0, out.output
    assert (tmp_path / "data" / "crmkit.duckdb").is_file()
    index = tmp_path / "reports" / "index.html"
    assert index.is_file() and (tmp_path / "reports" / "customer_overview.html").is_file()
    assert str(index) in out.output
    assert "crmkit dashboard overview" in out.output
    # a second run reuses the store
    again = CliRunner().invoke(main, ["run", "--customers", "500"])
    assert "already present" in again.output
