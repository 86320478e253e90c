"""The notebooks themselves: committed clean, written to house style, and every report runs.

Every report notebook (``notebooks/*.ipynb``) is run end to end with
:func:`crmkit.report.run_report` on the small demo store (``demo_store`` fixture), into
tmp_path. The customer overview's HTML is searched for the demo customers' personal data.
"""

from __future__ import annotations

import ast
import html
import re
from pathlib import Path

import nbformat
import pytest

from crmkit import config, report

NOTEBOOKS = config.notebooks_dir()
ALL_NOTEBOOKS = sorted(p for p in NOTEBOOKS.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
REPORTS = report.list_reports(NOTEBOOKS)
PII = ["first_name", "last_name", "email", "phone", "street", "birth_date"]


def _rel(path: Path) -> str:
    return str(path.relative_to(NOTEBOOKS))


# ---------------------------------------------------------------- committed state


def test_the_notebooks_are_found():
    assert "customer_overview" in REPORTS
    assert any(p.parent.name == "dashboards" for p in ALL_NOTEBOOKS)


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=_rel)
def test_notebook_is_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [
        i for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None)
    ]
    assert dirty == [], f"{_rel(path)}: cells {dirty} carry outputs or execution counts; clear them before committing"
    executed = [i for i, c in enumerate(nb.cells) if "papermill" in c.metadata or "execution" in c.metadata]
    assert executed == [], f"{_rel(path)}: cells {executed} carry execution metadata (an executed copy?)"
    assert "widgets" not in nb.metadata and "papermill" not in nb.metadata
    injected = [i for i, c in enumerate(nb.cells) if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected == [], f"{_rel(path)}: a papermill injected-parameters cell was committed"


@pytest.mark.parametrize("name", REPORTS)
def test_report_notebook_follows_house_style(name):
    """A title, a typed and commented parameters cell, then no def/class anywhere."""
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    for line in tagged[0].source.splitlines():
        if line.strip():
            assert re.fullmatch(r"[a-z_][a-z0-9_]*: [\w\[\] |]+ = \S.*?  # \S.*", line), (
                f"{name}: parameter line {line!r} is not `name: type = value  # what it means`"
            )
    assert report.notebook_parameters(name), "the parameters cell declares nothing"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            tree = ast.parse(cell.source)
            defs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
            assert not defs, f"{name}: cell {i} defines {defs[0].name!r}; analysis logic belongs in crmkit"


# ---------------------------------------------------------------- runs end to end

_runs: dict[str, report.ReportRun] = {}


@pytest.fixture(scope="module")
def render(demo_store, tmp_path_factory):
    """Run a report once per module on the small demo store; later calls reuse the run."""
    reports_dir = tmp_path_factory.mktemp("reports")

    def _render(name: str) -> report.ReportRun:
        if name not in _runs:
            params = {"source": str(demo_store)} if "source" in report.notebook_parameters(name) else {}
            _runs[name] = report.run_report(name, params, reports_dir=reports_dir, progress=False)
        return _runs[name]

    yield _render
    _runs.clear()


@pytest.mark.parametrize("name", REPORTS)
def test_report_runs_end_to_end_on_the_demo_store(name, render, demo_store):
    run = render(name)
    assert run.ok
    assert run.notebook_path.is_file() and run.html_path.is_file()
    assert (run.html_path.parent / "index.html").is_file()
    nb = nbformat.read(run.notebook_path, as_version=4)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []
    if "source" in run.parameters:
        assert run.parameters["source"] == str(demo_store)


# ---------------------------------------------------------------- the customer overview page


def _demo_personal_values(store: Path) -> dict[str, set[str]]:
    """Personal data of the demo customers, as distinctive strings to search for."""
    import duckdb

    con = duckdb.connect(str(store), read_only=True)
    try:
        cust = con.execute("SELECT * FROM customers").df()
    finally:
        con.close()
    present = [c for c in PII if c in cust.columns]
    assert {"email", "phone", "street", "first_name", "last_name"} <= set(present), cust.columns
    values = {
        "email": set(cust["email"].dropna().astype(str)),
        "phone": set(cust["phone"].dropna().astype(str)),
        "street": set(cust["street"].dropna().astype(str)),
        # First or last names alone are ordinary words ("Bell", "May"); a full name is not.
        "name": set((cust["first_name"] + " " + cust["last_name"]).dropna().astype(str)),
    }
    if "birth_date" in cust.columns:
        values["birth_date"] = {f"{d:%Y-%m-%d}" for d in cust["birth_date"].dropna()}
    for key, found in values.items():
        assert len(found) > 1_000, f"too few {key} values in the demo store to make this test meaningful"
    return values


def _searchable(page: str) -> str:
    """The page without the inline plotly.js library and CSS (code that cannot hold data)."""
    kept, pos = [], 0
    for m in re.finditer(r"<(script|style)\b[^>]*>", page):
        if m.start() < pos:
            continue
        end = page.find(f"</{m.group(1)}>", m.end())
        body = page[m.end():end]
        kept.append(page[pos:m.start()])
        if m.group(1) == "script" and "window.Plotly = Plotly" not in body:
            kept.append(body)  # figure data and small scripts are searched
        pos = end
    kept.append(page[pos:])
    return "".join(kept)


def _leaks(text: str, values: dict[str, set[str]]) -> dict[str, list[str]]:
    folded = text.casefold()
    found = {k: sorted(v for v in vals if v.casefold() in folded)[:5] for k, vals in values.items()}
    return {k: v for k, v in found.items() if v}


@pytest.fixture(scope="module")
def overview(render, demo_store):
    run = render("customer_overview")
    return run, run.html_path.read_text(encoding="utf-8"), _demo_personal_values(demo_store)


def test_customer_overview_shows_no_personal_data(overview):
    run, page, values = overview
    searchable = _searchable(page)
    assert 'class="plotly-graph-div"' in searchable and len(searchable) < len(page) / 3
    # The check can fail: personal data planted in a figure's data is found.
    planted = page.replace('"type":"bar"', f'"type":"bar","text":["{next(iter(values["email"]))}"]', 1)
    assert "email" in _leaks(_searchable(planted), values)
    assert _leaks(searchable, values) == {}
    nb = nbformat.read(run.notebook_path, as_version=4)
    outputs = "".join(str(o) for c in nb.cells if c.cell_type == "code" for o in c.outputs if "window.Plotly = Plotly" not in str(o))
    assert _leaks(outputs, values) == {}


def test_customer_overview_page_has_no_code_and_embeds_its_charts(overview):
    run, page, _ = overview
    assert not re.search(r'class="[^"]*(jp-InputArea-editor|jp-(Input|Output)Prompt|highlight hl-)', page)
    # The page as a reader sees it (tags stripped, entities decoded) holds no line of code.
    text = html.unescape(re.sub(r"<[^>]+>", "", _searchable(page)))
    nb = nbformat.read(config.notebooks_dir() / "customer_overview.ipynb", as_version=4)
    code_lines = [
        line.strip() for c in nb.cells if c.cell_type == "code" for line in c.source.splitlines()
        if len(line.strip()) > 20 and not line.strip().startswith("#")
    ]
    assert len(code_lines) > 10
    shown = [line for line in code_lines if line in text]
    assert shown == [], f"code shows in the report: {shown[:3]}"
    assert "crmkit.io.load" not in text and "pio.renderers" not in text
    assert page.count('class="plotly-graph-div"') >= 5
    assert page.count("window.Plotly = Plotly") == 1  # plotly.js once, inline
    assert not re.search(r"<script[^>]*\bsrc=[\"']?(https?:)?//", page)
    for title in ["Customer base at the end of each month", "Active customers per month", "Revenue per month",
                  "New and returning customers per month", "Frequency", "Recency", "Monetary value"]:
        assert title in page, title
    assert "Customer overview" in text and "rows read" in text
