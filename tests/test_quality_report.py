"""The data_quality report renders on a client-like extract with typos and shows no personal data.

(``tests/test_notebooks.py`` runs every report, this one included, on the small demo store.)
"""

from __future__ import annotations

import html
import re

import nbformat
import pytest

from crmkit import report
from crmkit.privacy import scan_pii
from crmkit.quality._messy import messy_extract


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    mx = messy_extract(300, random_state=13)
    folder = mx.write_csv(tmp_path_factory.mktemp("extract"))
    run = report.run_report(
        "data_quality", {"source": str(folder), "as_of": "2026-01-01"},
        reports_dir=tmp_path_factory.mktemp("reports"), progress=False,
    )
    return mx, run


def test_report_runs_on_a_messy_extract(rendered):
    mx, run = rendered
    assert run.ok, run.error
    nb = nbformat.read(run.notebook_path, as_version=4)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []
    page = run.html_path.read_text(encoding="utf-8")
    text = html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)))
    for heading in ("Quality score per table", "The rules that fail most", "Referential integrity", "Duplicate customers",
                    "The single customer view", "Rows set aside when loading"):
        assert heading in text, heading
    # the planted defects show: orders of unknown customers, the fax channel, disagreeing consents
    assert "customer_id not found in customers.customer_id" in text
    assert "consents agree" in text
    n_records = len(mx.tables["customers"]) - 2  # a repeated id and an unreadable date are set aside
    assert re.search(rf"{n_records:,} customer records stand for [\d,]+ customers", text)
    assert page.count('class="plotly-graph-div"') >= 5


def test_report_shows_no_personal_data(rendered):
    mx, run = rendered
    page = run.html_path.read_text(encoding="utf-8")
    customers = mx.tables["customers"]
    found = scan_pii(page, known=customers)
    assert found.empty, found
    nb = nbformat.read(run.notebook_path, as_version=4)
    outputs = "".join(str(o) for c in nb.cells if c.cell_type == "code" for o in c.outputs if "window.Plotly = Plotly" not in str(o))
    assert scan_pii(outputs, known=customers).empty
    # the scan is able to fail on this page: a planted address is found
    planted = page.replace("Duplicate customers", "Duplicate customers " + str(customers["email"].dropna().iloc[0]), 1)
    assert not scan_pii(planted, known=customers).empty
