"""crmkit.report: running notebooks with papermill, HTML without code, the index, failures.

The runner is tested on tiny notebooks written into tmp_path. Each real run starts a
kernel (a few seconds), so one module-scoped run is shared by the read-only checks and
the failure scenario works on its own copy of the reports folder.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from crmkit import report
from crmkit.errors import CrmkitError, ParameterError, ReportError
from crmkit.report import ReportParameter, convert_parameters, notebook_parameters

PARAMETERS = (
    'n: int = 3  # how many bars; 0 = none\n'
    'label: str = "demo"  # a label shown in the output\n'
    'ratio: float = 0.5  # a ratio\n'
    'flag: bool = False  # a switch\n'
    'fail: bool = False  # raise in the middle of the notebook'
)
CODE_MARKER = "CODE_ONLY_MARKER_7f3a"  # appears in code, never in an output


def _tiny_notebook(path: Path, *, title: str = "Tiny report", parameters: str | None = PARAMETERS) -> Path:
    cells = [nbformat.v4.new_markdown_cell(f"# {title}\nA notebook small enough to test the runner.")]
    if parameters is not None:
        cells.append(nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]}))
    cells += [
        nbformat.v4.new_code_cell(
            "import os, sys\n"
            "import plotly.graph_objects as go\n"
            "import plotly.io as pio\n"
            'pio.renderers.default = "plotly_mimetype+notebook"'
        ),
        nbformat.v4.new_code_cell(
            f"{CODE_MARKER} = 1\n"
            'print("params:", repr(n), type(n).__name__, repr(label), repr(ratio), type(ratio).__name__, repr(flag))\n'
            'print("cwd:", os.getcwd())\n'
            'print("leak:", "STARTUP_LEAK" in globals())\n'
            'print("warning for the analyst", file=sys.stderr)'
        ),
        nbformat.v4.new_code_cell(
            "if fail:\n"
            '    raise ValueError(f"asked to fail with n={n}")'
        ),
        nbformat.v4.new_code_cell(
            'go.Figure(go.Bar(x=["a", "b"], y=[n, 2]), layout_title_text="Bars of the tiny report")'
        ),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    # A kernel name that does not exist: the runner must use python3 regardless.
    nb.metadata.kernelspec = {"name": "someones-old-env", "display_name": "old", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """One successful run of a tiny notebook with text parameters, in a dirty environment."""
    root = tmp_path_factory.mktemp("tiny")
    notebooks, reports = root / "notebooks", root / "reports"
    (notebooks / "dashboards").mkdir(parents=True)
    _tiny_notebook(notebooks / "tiny.ipynb")
    # An IPython startup file of the user's own profile must not reach the report's kernel.
    startup = root / "user-ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-leak.py").write_text("STARTUP_LEAK = True\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IPYTHONDIR", str(root / "user-ipython"))
        run = report.run_report(
            "tiny",
            {"n": "7", "ratio": "2", "flag": "yes", "label": "North & <South>"},
            notebooks_dir=notebooks,
            reports_dir=reports,
            progress=False,
        )
    return {"root": root, "notebooks": notebooks, "reports": reports, "run": run}


def _outputs_text(nb_path: Path) -> str:
    nb = nbformat.read(nb_path, as_version=4)
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)


# ---------------------------------------------------------------- success


def test_success_writes_notebook_html_record_and_index(tiny):
    run, reports = tiny["run"], tiny["reports"]
    assert run.ok and run.error is None
    assert run.name == "tiny"
    assert run.notebook_path == reports / "tiny.ipynb" and run.notebook_path.is_file()
    assert run.html_path == reports / "tiny.html" and run.html_path.is_file()
    assert (reports / "index.html").is_file()
    assert run.started_at.tzinfo is not None
    assert 0 < run.duration_s < 600
    assert run.finished_at > run.started_at
    # nothing temporary is left behind, no failed notebook
    assert sorted(p.name for p in reports.iterdir()) == ["index.html", "tiny.html", "tiny.ipynb", "tiny.run.json"]
    record = json.loads((reports / "tiny.run.json").read_text())
    assert record["parameters"] == {"n": 7, "ratio": 2.0, "flag": True, "label": "North & <South>"}
    assert record["defaults"]["fail"] is False
    assert record["failure"] is None
    assert record["title"] == "Tiny report"


def test_text_parameters_arrive_in_the_kernel_with_their_declared_types(tiny):
    assert tiny["run"].parameters == {"n": 7, "ratio": 2.0, "flag": True, "label": "North & <South>"}
    out = _outputs_text(tiny["run"].notebook_path)
    assert "params: 7 int 'North & <South>' 2.0 float True" in out


def test_kernel_runs_in_a_clean_environment_in_the_notebooks_folder(tiny):
    out = _outputs_text(tiny["run"].notebook_path)
    assert f"cwd: {tiny['notebooks'].resolve()}" in out
    assert "leak: False" in out  # the user's IPython startup file did not run


def test_html_hides_code_and_prompts_and_stderr(tiny):
    page = tiny["run"].html_path.read_text(encoding="utf-8")
    assert "params: 7 int" in page  # outputs are there …
    assert CODE_MARKER not in page  # … code is not
    assert "pio.renderers.default" not in page
    assert not re.search(r'class="[^"]*jp-(Input|Output)Prompt', page) and "In&nbsp;[" not in page
    assert "warning for the analyst" not in page  # stderr stays in the notebook
    assert "warning for the analyst" in _outputs_text(tiny["run"].notebook_path)
    assert "<h1" in page and "Tiny report" in page  # markdown is kept


def test_html_embeds_plotly_and_needs_no_network(tiny):
    page = tiny["run"].html_path.read_text(encoding="utf-8")
    assert page.count('class="plotly-graph-div"') == 1
    assert "Bars of the tiny report" in page
    assert "window.Plotly = Plotly" in page  # plotly.js itself is inline
    assert len(page) > 3_000_000
    external = re.findall(r"<script[^>]*\bsrc=[\"']?(https?:)?//[^>]*>", page)
    assert external == [], external  # no require.js, MathJax or plotly from a CDN
    assert not re.search(r"<link[^>]*href=[\"']https?://", page)


def test_index_lists_the_report_with_time_duration_and_parameters(tiny):
    page = (tiny["reports"] / "index.html").read_text(encoding="utf-8")
    assert "<title>crmkit report pack</title>" in page
    assert 'href="tiny.html"' in page and 'href="tiny.ipynb"' in page
    assert "n = 7" in page and "flag = True" in page
    assert "North &amp; &lt;South&gt;" in page  # values are escaped
    assert "fail = False (default)" in page
    assert f"{tiny['run'].finished_at.astimezone(dt.timezone.utc):%Y-%m-%d}" in page
    assert re.search(r"\d+\.\d s</td>", page)
    assert not re.search(r"(src|href)=[\"']https?://", page)  # no external assets


# ---------------------------------------------------------------- failure


def test_failure_keeps_last_good_report_and_names_the_cell(tiny, tmp_path, capfd):
    reports = tmp_path / "reports"
    shutil.copytree(tiny["reports"], reports)
    good_html = (reports / "tiny.html").read_bytes()
    good_nb = (reports / "tiny.ipynb").read_bytes()

    with pytest.raises(ReportError) as info:
        report.run_report("tiny", {"fail": "true", "n": "5"}, notebooks_dir=tiny["notebooks"], reports_dir=reports)
    err = info.value
    msg = str(err)
    # source cells: 0 title, 1 parameters, 2 imports, 3 prints, 4 `if fail:` …
    assert "'tiny'" in msg
    assert "cell 4" in msg and "if fail:" in msg
    assert "ValueError: asked to fail with n=5" in msg
    assert "tiny.failed.ipynb" in msg and "last good report" in msg
    assert err.cell_index == 4 and err.report == "tiny"
    assert isinstance(err, CrmkitError) and isinstance(err, RuntimeError)
    assert not err.run.ok and err.run.error == msg
    assert "cell/s" in capfd.readouterr().err  # the progress bar ran (progress=True)

    assert (reports / "tiny.html").read_bytes() == good_html  # last good report kept
    assert (reports / "tiny.ipynb").read_bytes() == good_nb
    failed = reports / "tiny.failed.ipynb"
    assert failed.is_file() and "asked to fail with n=5" in failed.read_text()
    assert not [p for p in reports.iterdir() if p.name.startswith(".")]  # no temporary files left
    record = json.loads((reports / "tiny.run.json").read_text())
    assert record["html"] == "tiny.html" and record["parameters"]["n"] == 7  # the good run
    assert record["failure"]["parameters"] == {"fail": True, "n": 5}
    index = (reports / "index.html").read_text()
    assert "last run failed" in index and 'href="tiny.failed.ipynb"' in index and 'href="tiny.html"' in index

    # The next good run replaces the report and clears the failure.
    url = "postgresql://ana:s3cret@db.example.com/crm"
    run = report.run_report("tiny", {"n": 4, "label": url}, notebooks_dir=tiny["notebooks"], reports_dir=reports,
                            progress=False)
    assert run.ok and not failed.exists()
    assert "cell/s" not in capfd.readouterr().err  # progress=False: no bar
    assert "params: 4 int" in _outputs_text(reports / "tiny.ipynb")
    record = json.loads((reports / "tiny.run.json").read_text())
    assert record["failure"] is None
    # The password reaches the kernel as PGPASSWORD, never the notebook, the record or the index.
    assert record["parameters"]["label"] == "postgresql://ana@db.example.com/crm"
    index = (reports / "index.html").read_text()
    assert "last run failed" not in index
    assert "ana@db.example.com" in index
    for path in ("index.html", "tiny.ipynb", "tiny.html", "tiny.run.json"):
        assert "s3cret" not in (reports / path).read_text(), path
    assert run.parameters["label"] == "postgresql://ana@db.example.com/crm"
    assert url != run.parameters["label"]


def test_a_cell_that_runs_too_long_is_named(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("import time\ntime.sleep(60)"),
        nbformat.v4.new_code_cell("y = 2"),
    ])
    nbformat.write(nb, tmp_path / "slow.ipynb")
    with pytest.raises(ReportError, match=r"cell 1 \(In \[2\]: 'import time'\) did not finish within 2 s") as info:
        report.run_report("slow", notebooks_dir=tmp_path, reports_dir=tmp_path / "out", progress=False, timeout=2)
    assert info.value.cell_index == 1
    assert (tmp_path / "out" / "slow.failed.ipynb").is_file()


def test_failure_without_earlier_report(tmp_path):
    notebooks = tmp_path / "nb"
    notebooks.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 / 0")])
    nbformat.write(nb, notebooks / "broken.ipynb")
    with pytest.raises(ReportError, match=r"cell 0 \(In \[1\]: '1 / 0'\) raised ZeroDivisionError") as info:
        report.run_report("broken", notebooks_dir=notebooks, reports_dir=tmp_path / "out", progress=False)
    assert "no earlier good report" in str(info.value)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["broken.failed.ipynb", "broken.run.json", "index.html"]
    index = (tmp_path / "out" / "index.html").read_text()
    assert "last run failed" in index and "ZeroDivisionError" in index


# ---------------------------------------------------------------- parameters (no kernel)


def test_notebook_parameters_reads_types_defaults_and_help(tmp_path):
    path = _tiny_notebook(tmp_path / "t.ipynb", parameters=PARAMETERS + '\nregion: str | None = None  # a region; None = all\nplain = 3')
    params = notebook_parameters(path)
    assert list(params) == ["n", "label", "ratio", "flag", "fail", "region", "plain"]
    assert params["n"] == ReportParameter("n", "int", 3, "how many bars; 0 = none")  # '=' in a comment is fine
    assert params["label"].default == "demo"
    assert params["region"].type == "str | None" and params["region"].default is None
    assert params["plain"].type is None and params["plain"].default == 3
    assert params["flag"].describe() == "flag: bool = False  # a switch"


def test_notebook_without_parameters_cell_declares_none(tmp_path):
    path = _tiny_notebook(tmp_path / "t.ipynb", parameters=None)
    assert notebook_parameters(path) == {}
    with pytest.raises(ParameterError, match="declares no parameters"):
        report.run_report("t", {"n": 1}, notebooks_dir=tmp_path, reports_dir=tmp_path / "out")


@pytest.mark.parametrize(
    ("type_", "text", "expected"),
    [
        ("int", "7", 7),
        ("int", " 1_000 ", 1000),
        ("int", "3.0", 3),
        ("float", "2", 2.0),
        ("float", "1e-3", 0.001),
        ("bool", "true", True),
        ("bool", "No", False),
        ("bool", "1", True),
        ("str", "2024-01-01", "2024-01-01"),
        ("str", "", ""),
        ("int | None", "None", None),
        ("list", "[1, 2]", [1, 2]),
    ],
)
def test_text_values_convert_to_the_declared_type(type_, text, expected):
    declared = {"p": ReportParameter("p", type_, None, "")}
    value = convert_parameters(declared, {"p": text})["p"]
    assert value == expected and type(value) is type(expected)


def test_python_values_are_kept_or_widened():
    declared = {
        "n": ReportParameter("n", "int", 1, ""),
        "x": ReportParameter("x", "float", 0.5, ""),
        "s": ReportParameter("s", "str", "", ""),
        "d": ReportParameter("d", None, 3, ""),  # no annotation: the default's type
    }
    out = convert_parameters(declared, {"n": 4, "x": 2, "s": dt.date(2024, 5, 1), "d": "12"})
    assert out == {"n": 4, "x": 2.0, "s": "2024-05-01", "d": 12}
    assert type(out["x"]) is float


@pytest.mark.parametrize(
    ("type_", "value"),
    [("int", "seven"), ("int", "2.5"), ("int", True), ("float", "abc"), ("bool", "maybe"), ("int", None), ("list", "[1,")],
)
def test_values_that_do_not_convert_are_parameter_errors(type_, value):
    declared = {"p": ReportParameter("p", type_, 1, "what p means")}
    with pytest.raises(ParameterError, match=r"parameter 'p': expected .*found .*what p means"):
        convert_parameters(declared, {"p": value}, report="r")


def test_unknown_parameter_lists_the_known_ones_and_runs_nothing(tmp_path):
    _tiny_notebook(tmp_path / "tiny.ipynb")
    out = tmp_path / "reports"
    with pytest.raises(ParameterError) as info:
        report.run_report("tiny", {"nn": "3", "colour": "red"}, notebooks_dir=tmp_path, reports_dir=out)
    msg = str(info.value)
    assert "'tiny'" in msg and "'colour'" in msg and "'nn'" in msg
    assert "did you mean 'n'?" in msg
    for line in PARAMETERS.splitlines():
        name = line.split(":")[0]
        assert re.search(rf"^  {name}: \w+ = .+  # ", msg, re.M), (name, msg)
    assert "n: int = 3  # how many bars; 0 = none" in msg
    assert isinstance(info.value, ValueError)
    assert not out.exists()  # nothing ran, nothing written


def test_unknown_report_is_a_parameter_error(tmp_path):
    _tiny_notebook(tmp_path / "tiny.ipynb")
    with pytest.raises(ParameterError, match=r"no report named 'tinny'.*did you mean 'tiny'"):
        report.run_report("tinny", notebooks_dir=tmp_path, reports_dir=tmp_path / "out")


# ---------------------------------------------------------------- discovery, run_all, index (no kernel)


def test_list_reports_top_level_only(tmp_path):
    (tmp_path / "dashboards").mkdir()
    for p in ["b.ipynb", "a.ipynb", "dashboards/overview.ipynb", ".hidden.ipynb", "notes.md"]:
        (tmp_path / p).write_text("{}")
    assert report.list_reports(tmp_path) == ["a", "b"]
    assert report.list_reports(tmp_path / "missing") == []


def test_list_reports_default_folder_has_customer_overview():
    assert "customer_overview" in report.list_reports()


def test_run_all_passes_each_report_only_what_it_declares(tmp_path, monkeypatch):
    _tiny_notebook(tmp_path / "tiny.ipynb")
    _tiny_notebook(tmp_path / "plain.ipynb", parameters='label: str = ""  # a label')
    calls = []

    def fake_run_report(name, parameters, **kw):
        calls.append((name, parameters))
        return report.ReportRun(name, Path(f"{name}.ipynb"), Path(f"{name}.html"), parameters,
                                dt.datetime.now(dt.timezone.utc), 0.1, True)

    monkeypatch.setattr(report, "run_report", fake_run_report)
    runs = report.run_all({"n": "5", "label": "x"}, notebooks_dir=tmp_path)
    assert [r.name for r in runs] == ["plain", "tiny"]
    assert calls == [("plain", {"label": "x"}), ("tiny", {"n": "5", "label": "x"})]

    with pytest.raises(ParameterError, match=r"all reports.*'colour'.*Known parameters"):
        report.run_all({"colour": "red"}, notebooks_dir=tmp_path)
    with pytest.raises(ParameterError, match=r"'tiny', parameter 'n'"):
        report.run_all({"n": "many"}, notebooks_dir=tmp_path)
    assert len(calls) == 2  # the bad calls ran nothing


def test_run_all_runs_every_report_then_raises_for_failures(tmp_path, monkeypatch):
    _tiny_notebook(tmp_path / "a.ipynb")
    _tiny_notebook(tmp_path / "b.ipynb")
    now = dt.datetime.now(dt.timezone.utc)

    def fake_run_report(name, parameters, **kw):
        if name == "a":
            err = ReportError("report 'a' failed: cell 4 raised ValueError: x.")
            err.run = report.ReportRun(name, Path("a.failed.ipynb"), None, {}, now, 0.1, False, str(err))
            raise err
        return report.ReportRun(name, Path("b.ipynb"), Path("b.html"), {}, now, 0.1, True)

    monkeypatch.setattr(report, "run_report", fake_run_report)
    with pytest.raises(ReportError, match=r"1 of 2 reports failed:\n- report 'a' failed") as info:
        report.run_all(notebooks_dir=tmp_path)
    assert [r.ok for r in info.value.runs] == [False, True]  # b ran although a failed
    runs = report.run_all(notebooks_dir=tmp_path, raise_on_error=False)
    assert [(r.name, r.ok) for r in runs] == [("a", False), ("b", True)]


def test_build_index_from_records(tmp_path):
    (tmp_path / "b.html").write_text("<html></html>")
    (tmp_path / "b.ipynb").write_text("{}")
    (tmp_path / "b.run.json").write_text(json.dumps({
        "name": "b", "title": "Bee <report>", "description": "What b answers.",
        "started_at": "2025-03-01T10:00:00+00:00", "finished_at": "2025-03-01T10:01:05+00:00",
        "duration_s": 65.0, "parameters": {"start": "2024-01-01"}, "defaults": {"start": "", "n": 3},
        "notebook": "b.ipynb", "html": "b.html", "failure": None,
    }))
    (tmp_path / "a.html").write_text("<html></html>")  # a report without a record still shows
    (tmp_path / ".b.1234.html.tmp").write_text("")  # temporary files do not
    path = report.build_index(tmp_path)
    assert path == tmp_path / "index.html"
    page = path.read_text()
    assert page.index('href="a.html"') < page.index('href="b.html"')
    assert "Bee &lt;report&gt;" in page and "What b answers." in page
    assert "2025-03-01 10:01 UTC" in page and "1 min 05 s" in page
    assert "start = &#x27;2024-01-01&#x27;" in page and "n = 3 (default)" in page
    assert "1234" not in page
    assert page.count("<tr>") == 3  # header + 2 reports


def test_build_index_when_empty(tmp_path):
    page = report.build_index(tmp_path / "new").read_text()
    assert "crmkit report pack" in page and "No reports yet" in page


def test_a_per_campaign_report_renders_once_per_campaign_and_the_index_lists_each(tmp_path, demo_store):
    """``"crmkit": {"per": "campaign_id"}`` fans ``run_all`` out over the source's campaigns."""
    import duckdb

    nb_dir, out = tmp_path / "nb", tmp_path / "reports"
    nb_dir.mkdir()
    cells = [
        nbformat.v4.new_markdown_cell("# Per campaign\nOne page per campaign."),
        nbformat.v4.new_code_cell(
            'source: str = ""  # data source\ncampaign_id: str = ""  # campaign; "" = the latest',
            metadata={"tags": ["parameters"]},
        ),
        nbformat.v4.new_code_cell('print("campaign:", campaign_id or "latest", "from", source)'),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["crmkit"] = {"per": "campaign_id"}
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, nb_dir / "per_campaign.ipynb")
    _tiny_notebook(nb_dir / "tiny.ipynb")

    con = duckdb.connect(str(demo_store), read_only=True)
    try:
        ids = sorted(r[0] for r in con.execute("SELECT campaign_id FROM campaigns").fetchall())
    finally:
        con.close()
    assert len(ids) >= 2

    runs = report.run_all({"source": str(demo_store)}, notebooks_dir=nb_dir, reports_dir=out, progress=False)
    assert sorted(r.name for r in runs) == sorted([f"per_campaign-{i}" for i in ids] + ["tiny"])
    for i in ids:
        assert f"campaign: {i} from" in _outputs_text(out / f"per_campaign-{i}.ipynb")
        record = json.loads((out / f"per_campaign-{i}.run.json").read_text())
        assert record["title"] == f"Per campaign · {i}" and record["parameters"]["campaign_id"] == i
    index = (out / "index.html").read_text()
    assert all(f'href="per_campaign-{i}.html"' in index for i in ids)

    # A fixed campaign renders that one only; no campaign renders the plain report.
    runs = report.run_all({"source": str(demo_store), "campaign_id": ids[0]}, notebooks_dir=nb_dir,
                          reports_dir=out, progress=False)
    assert sorted(r.name for r in runs) == sorted([f"per_campaign-{ids[0]}", "tiny"])
    run = report.run_report("per_campaign", {"source": str(demo_store)}, notebooks_dir=nb_dir,
                            reports_dir=out, progress=False)
    assert run.name == "per_campaign" and run.html_path == out / "per_campaign.html"
