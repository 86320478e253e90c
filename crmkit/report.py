"""Run report notebooks with papermill, render them to HTML, keep an index.

A report is a notebook at the top of ``notebooks/`` (dashboards live in
``notebooks/dashboards/`` and are not reports). Running report ``NAME`` writes

- ``reports/NAME.ipynb`` — the executed notebook, code and outputs;
- ``reports/NAME.html`` — the same without code, readable offline (plots embedded);
- ``reports/NAME.run.json`` — when it ran, how long it took, with which parameters;
- ``reports/index.html`` — a table linking every report in the folder.

Writes are atomic: the notebook executes into a hidden temporary file in the reports
folder, and only a run that succeeds replaces ``NAME.ipynb`` and ``NAME.html``. A run
that fails keeps the last good report, leaves the failed notebook beside it as
``NAME.failed.ipynb`` and raises :class:`~crmkit.errors.ReportError` naming the cell.

Parameters come from the notebook's cell tagged ``parameters``, one per line as
``name: type = value  # what it means``. Values given as text (from the command line)
are converted to the declared type.

>>> sorted(convert_parameters(
...     {"n": ReportParameter("n", "int", 10, "customers")}, {"n": "2_000"}).items())
[('n', 2000)]
"""

from __future__ import annotations

import ast
import contextlib
import datetime as dt
import difflib
import html
import io
import json
import logging
import os
import re
import tempfile
import time
import tokenize
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping
from urllib.parse import quote

from crmkit import config
from crmkit.errors import ParameterError, ReportError

__all__ = [
    "ReportRun",
    "ReportParameter",
    "run_report",
    "run_all",
    "list_reports",
    "build_index",
    "notebook_parameters",
    "convert_parameters",
]

DEFAULT_KERNEL = "python3"
INDEX_NAME = "index.html"
_RUN_SUFFIX = ".run.json"
_FAILED_SUFFIX = ".failed.ipynb"
_SCALARS = {"str", "int", "float", "bool"}
_CONTAINERS = {"list": list, "dict": dict, "tuple": tuple}
_TRUE = {"true", "t", "yes", "y", "1", "on"}
_FALSE = {"false", "f", "no", "n", "0", "off"}


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ReportParameter:
    """One line of a notebook's ``parameters`` cell: ``name: type = default  # help``.

    ``type`` is the annotation as written (``"str"``, ``"int"``, ``"str | None"``) or
    ``None`` when the line has none; ``default`` is the Python value when the default is
    a literal, else its source text.
    """

    name: str
    type: str | None
    default: Any
    help: str = ""

    def describe(self) -> str:
        """The line as a person reads it, e.g. ``n_customers: int = 2000  # demo size``."""
        text = self.name + (f": {self.type}" if self.type else "") + f" = {self.default!r}"
        return text + (f"  # {self.help}" if self.help else "")


@dataclass(frozen=True)
class ReportRun:
    """What one run of one report produced.

    ``notebook_path`` and ``html_path`` are the report files written (for a failed run:
    ``notebook_path`` is ``NAME.failed.ipynb`` and ``html_path`` the last good report,
    or ``None``).
    ``parameters`` are the values passed to the notebook after type conversion;
    ``started_at`` is timezone-aware UTC.
    """

    name: str
    notebook_path: Path
    html_path: Path | None
    parameters: dict[str, Any]
    started_at: dt.datetime
    duration_s: float
    ok: bool
    error: str | None = field(default=None, compare=False)

    @property
    def finished_at(self) -> dt.datetime:
        return self.started_at + dt.timedelta(seconds=self.duration_s)


# --------------------------------------------------------------------------- discovery


def list_reports(notebooks_dir: str | os.PathLike | None = None) -> list[str]:
    """Names of the report notebooks: every ``*.ipynb`` at the top of ``notebooks_dir``.

    Dashboards (``notebooks/dashboards/``) and hidden files are not reports.
    """
    folder = Path(notebooks_dir) if notebooks_dir is not None else config.notebooks_dir()
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.ipynb") if p.is_file() and not p.name.startswith("."))


def _notebook_path(name: str, notebooks_dir: Path) -> Path:
    path = notebooks_dir / f"{name}.ipynb"
    if not path.is_file():
        known = list_reports(notebooks_dir)
        hint = difflib.get_close_matches(name, known, n=1)
        raise ParameterError(
            f"no report named {name!r} in {notebooks_dir}"
            + (f"; did you mean {hint[0]!r}?" if hint else "")
            + f" Reports are: {', '.join(known) or '(none)'}."
        )
    return path


def _read_notebook(path: Path):
    import nbformat

    return nbformat.read(path, as_version=4)


def notebook_parameters(
    name: str | os.PathLike, *, notebooks_dir: str | os.PathLike | None = None
) -> dict[str, ReportParameter]:
    """The parameters a report declares, in the order of its ``parameters`` cell.

    ``name`` is a report name (looked up in ``notebooks_dir``) or a path to a notebook.
    A notebook without a cell tagged ``parameters`` declares none.
    """
    path = Path(name)
    if path.suffix != ".ipynb":
        folder = Path(notebooks_dir) if notebooks_dir is not None else config.notebooks_dir()
        path = _notebook_path(str(name), folder)
    nb = _read_notebook(path)
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            return _parse_parameters_cell(cell.source, where=f"{path.name}, cell tagged 'parameters'")
    return {}


def _parse_parameters_cell(source: str, *, where: str) -> dict[str, ReportParameter]:
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise ReportError(f"{where}: the parameters cell is not valid Python ({exc.msg}, line {exc.lineno}).") from exc
    comments: dict[int, str] = {}
    with contextlib.suppress(tokenize.TokenError):
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                comments[tok.start[0]] = tok.string.lstrip("#").strip()
    out: dict[str, ReportParameter] = {}
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            names, annotation, value = [node.target.id], ast.unparse(node.annotation), node.value
        elif isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets):
            names, annotation, value = [t.id for t in node.targets], None, node.value
        else:
            continue
        try:
            default = ast.literal_eval(value)
        except ValueError:
            default = ast.get_source_segment(source, value)
        help_text = comments.get(node.end_lineno or node.lineno, "")
        for n in names:
            out[n] = ReportParameter(n, annotation, default, help_text)
    return out


# --------------------------------------------------------------------------- parameters


def _declared_type(p: ReportParameter) -> tuple[str | None, bool]:
    """(base type name, whether None is allowed) of a parameter."""
    if p.type is None:
        if p.default is None:
            return None, True
        name = type(p.default).__name__
        return (name if name in _SCALARS or name in _CONTAINERS else None), False
    parts = [s.strip() for s in p.type.split("|")]
    optional = "None" in parts
    parts = [s for s in parts if s != "None"]
    if len(parts) == 1 and parts[0].startswith("Optional[") and parts[0].endswith("]"):
        parts, optional = [parts[0][len("Optional[") : -1].strip()], True
    if len(parts) != 1:
        return None, optional
    base = parts[0].split("[", 1)[0]
    return (base if base in _SCALARS or base in _CONTAINERS else None), optional


def _convert_one(report: str, p: ReportParameter, value: Any) -> Any:
    base, optional = _declared_type(p)
    expected = p.type or (base or "any value")

    def bad(reason: str = "") -> ParameterError:
        return ParameterError(
            f"report {report!r}, parameter {p.name!r}: expected {expected}, found {value!r}"
            + (f" ({reason})" if reason else "")
            + f". Declared as: {p.describe()}"
        )

    if value is None:
        if optional or base is None:
            return None
        raise bad("None is not allowed")
    if optional and isinstance(value, str) and value.strip().lower() in {"none", "null"} and base != "str":
        return None
    if base is None:
        return value
    if base == "str":
        if isinstance(value, str):
            return value
        if isinstance(value, (dt.date, dt.datetime)):
            return value.isoformat()
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise bad()
    if base == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise bad("use true/false, yes/no or 1/0")
    if base == "int":
        if isinstance(value, bool):
            raise bad()
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
            with contextlib.suppress(ValueError):
                f = float(value.strip())
                if f.is_integer():
                    return int(f)
        raise bad("not a whole number")
    if base == "float":
        if isinstance(value, bool):
            raise bad()
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return float(value.strip())
        raise bad("not a number")
    kind = _CONTAINERS[base]
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            raise bad(f"write a Python {base} literal") from None
    if base == "tuple" and isinstance(value, list):
        value = tuple(value)
    if base == "list" and isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, kind):
        raise bad()
    return value


def _unknown_parameter_message(report: str, unknown: Iterable[str], declared: Mapping[str, ReportParameter]) -> str:
    unknown = sorted(unknown)
    hints = []
    for u in unknown:
        close = difflib.get_close_matches(u, list(declared), n=1)
        if close:
            hints.append(f"{u!r} → did you mean {close[0]!r}?")
    what = "parameter" if len(unknown) == 1 else "parameters"
    msg = f"report {report!r} has no {what} {', '.join(repr(u) for u in unknown)}"
    msg += f" ({'; '.join(hints)})." if hints else "."
    if declared:
        msg += " Known parameters:\n" + "\n".join(f"  {p.describe()}" for p in declared.values())
    else:
        msg += " It declares no parameters (no cell tagged 'parameters')."
    return msg


def convert_parameters(
    declared: Mapping[str, ReportParameter], parameters: Mapping[str, Any] | None, *, report: str = "report"
) -> dict[str, Any]:
    """Check ``parameters`` against ``declared`` and convert each to its declared type.

    Text is converted to ``int``, ``float``, ``bool`` (true/false, yes/no, 1/0) or a
    container literal as declared; ``"None"`` gives ``None`` where the type allows it
    (``int | None``). Raises :class:`~crmkit.errors.ParameterError` for an unknown name
    (listing the known ones with types and defaults) or a value that does not convert.
    """
    parameters = dict(parameters or {})
    unknown = set(parameters) - set(declared)
    if unknown:
        raise ParameterError(_unknown_parameter_message(report, unknown, declared))
    return {k: _convert_one(report, declared[k], v) for k, v in parameters.items()}


# --------------------------------------------------------------------------- kernel


def _clean_kernel_manager(cwd: Path, ipython_dir: Path, log, secrets: Mapping[str, str] | None = None):
    """A kernel manager class that starts the kernel in ``cwd`` with a clean environment.

    The kernel inherits the caller's environment minus what would make a report depend
    on who runs it: IPython profile and startup files (a fresh ``IPYTHONDIR``),
    ``PYTHONSTARTUP``, a parent Jupyter's plotting backend and session variables.
    The ``python3`` kernel runs on this interpreter (``sys.executable``). ``secrets``
    (e.g. ``PGPASSWORD``) are added to the kernel's environment only, never to the notebook.
    """
    import zmq
    from jupyter_client.manager import AsyncKernelManager

    drop = {"PYTHONSTARTUP", "PYTHONINSPECT", "MPLBACKEND", "FORCE_COLOR", "CLICOLOR_FORCE"}

    class CleanKernelManager(AsyncKernelManager):
        # Encrypt kernel traffic when pyzmq can (and so skip ipykernel's plain-TCP warning).
        transport_encryption = "auto" if zmq.has("curve") else "disabled"

        async def start_kernel(self, **kw: Any) -> None:
            env = {
                k: v
                for k, v in os.environ.items()
                if k not in drop and not k.startswith(("JPY_", "PYDEVD_", "IPY_"))
            }
            env.update(
                IPYTHONDIR=str(ipython_dir),
                PYDEVD_DISABLE_FILE_VALIDATION="1",  # silence the debugger's frozen-modules note
                PYTHONHASHSEED="0",
                PYTHONUNBUFFERED="1",
            )
            env.update(secrets or {})
            kw["env"] = env
            kw["cwd"] = str(cwd)
            # The kernel process's own output (start-up noise, a crash's last words) goes
            # to a log that a failed run quotes, not to the caller's terminal.
            kw["stdout"] = kw["stderr"] = log
            await super().start_kernel(**kw)

    return CleanKernelManager


# --------------------------------------------------------------------------- running


class _RedundantPapermillWarnings(logging.Filter):
    """Drop papermill's redundant warnings while crmkit runs a report.

    crmkit has already parsed the parameters cell and checked every name
    (:func:`notebook_parameters`); papermill's line parser trips on an ``=`` inside a
    help comment (``# empty = the demo store``) and would then warn about "unknown"
    parameters that are perfectly known.
    """

    _PREFIXES = (
        "Unable to parse line",
        "Passed unknown parameter",
        # nbclient logs these through papermill's logger; the ReportError says them too.
        "Kernel died while waiting for execute reply",
        "Timeout waiting for execute reply",
    )

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self._PREFIXES)


@contextlib.contextmanager
def _quiet_papermill():
    loggers = [logging.getLogger("papermill"), logging.getLogger("papermill.translators")]
    f = _RedundantPapermillWarnings()
    for lg in loggers:
        lg.addFilter(f)
    try:
        yield
    finally:
        for lg in loggers:
            lg.removeFilter(f)



def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        _remove(tmp)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def _first_line(source: str) -> str:
    for line in source.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _describe_notebook(nb) -> tuple[str, str]:
    """(title, one-line description) from the notebook's first markdown cell."""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        lines = [ln.strip() for ln in cell.source.splitlines() if ln.strip()]
        title, rest = "", []
        for ln in lines:
            if not title and ln.startswith("#"):
                title = ln.lstrip("#").strip()
            else:
                rest.append(ln)
        return title, " ".join(rest)
    return "", ""


def _fan_out_key(nb) -> str | None:
    """The parameter a report is rendered once per value of (``metadata.crmkit.per``), or None.

    ``notebooks/campaign_evaluation.ipynb`` declares ``"crmkit": {"per": "campaign_id"}``:
    ``crmkit report all`` renders one report per campaign, and a run with ``campaign_id``
    set is written as ``campaign_evaluation-<campaign_id>``.
    """
    meta = nb.get("metadata", {}).get("crmkit", {}) or {}
    key = meta.get("per") if isinstance(meta, Mapping) else None
    return str(key) if key else None


def _output_stem(name: str, key: str | None, values: Mapping[str, Any]) -> str:
    """File name (without suffix) of a run: ``NAME``, or ``NAME-<value>`` for a per-value run."""
    value = values.get(key) if key else None
    if value is None or str(value) == "":
        return name
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(value)).strip("._") or "value"
    return f"{name}-{slug}"


def _fan_out_values(key: str, parameters: Mapping[str, Any]) -> list[str]:
    """Every value a per-value report is rendered for, read from the report's data source."""
    from crmkit import io

    if key != "campaign_id":
        raise ParameterError(f"reports can be rendered per 'campaign_id' only, not per {key!r}.")
    tables, _notes = io.read_raw(parameters.get("source") or None, tables=["campaigns"])
    campaigns = tables.get("campaigns")
    if campaigns is None or "campaign_id" not in campaigns or campaigns.empty:
        return []
    return sorted(campaigns["campaign_id"].dropna().astype(str).unique())


def _jsonable(value: Any) -> Any:
    if isinstance(value, str):
        return _mask(value)
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return repr(value)


_CDN_MATHJAX = re.compile(r'<script[^>]*\ssrc="https?://[^"]*mathjax[^"]*"[^>]*>\s*</script>', re.IGNORECASE)

_HTML_TEMPLATE = r"""{%- extends 'index.html.j2' -%}
{#- crmkit: a report that opens offline. No require.js, MathJax, mermaid or widget
    manager from a CDN: plotly figures carry plotly.js inline (plotly_mimetype+notebook). -#}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{% block extra_css %}
<style type="text/css">
  body.jp-Notebook { max-width: 1100px; margin: 0 auto; padding: 1.5rem 1rem 3rem; }
  .crmkit-run { color: #555; font: 0.85rem/1.4 system-ui, sans-serif; border-top: 1px solid #ddd;
                margin-top: 2rem; padding-top: 0.6rem; }
  .crmkit-run a { color: #1f5fa8; }
</style>
{% endblock extra_css %}
{% block body_footer %}
<footer class="crmkit-run">{{ resources.crmkit_footer }}</footer>
</main>
</body>
{% endblock body_footer %}
"""


def _render_html(nb, *, title: str, footer_html: str) -> str:
    """The executed notebook as HTML: no code, no prompts, no stderr, plots embedded."""
    import copy

    import jinja2
    from nbconvert import HTMLExporter

    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            # Warnings and progress bars are for the analyst (they stay in NAME.ipynb).
            cell.outputs = [o for o in cell.get("outputs", []) if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
            for o in cell.outputs:
                data = o.get("data", {})
                if isinstance(data.get("text/html"), (str, list)):
                    text = data["text/html"] if isinstance(data["text/html"], str) else "".join(data["text/html"])
                    # plotly's notebook renderer asks for MathJax from a CDN in front of every
                    # figure; it is only needed for LaTeX labels, which reports do not use.
                    data["text/html"] = _CDN_MATHJAX.sub("", text)
    exporter = HTMLExporter(
        template_name="lab",
        extra_loaders=[jinja2.DictLoader({"crmkit_report.html.j2": _HTML_TEMPLATE})],
        template_file="crmkit_report.html.j2",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}, "crmkit_footer": footer_html})
    return body


def _failure_details(
    exc: BaseException, failed_nb_path: Path, source_nb, timeout: float | None
) -> tuple[str, int | None]:
    """Name the failing cell (its index in notebooks/NAME.ipynb and first line) and the error.

    Returns (text, cell index or None when no cell can be blamed).
    """
    from papermill.exceptions import PapermillExecutionError

    try:
        executed = _read_notebook(failed_nb_path)
        cells = [c for c in executed.cells if "papermill-error-cell-tag" not in c.get("metadata", {}).get("tags", [])]
    except Exception:  # the failed notebook is unreadable: say what we can without it
        cells = None
    if isinstance(exc, PapermillExecutionError):
        index, source, exec_count = exc.cell_index, exc.source, exc.exec_count
        what = f"raised {exc.ename}: " + (exc.evalue if len(str(exc.evalue)) <= 500 else str(exc.evalue)[:497] + "...")
    else:
        # A timeout or a dead kernel: blame the last cell papermill started.
        started = [i for i, c in enumerate(cells or []) if c.get("metadata", {}).get("papermill", {}).get("start_time")]
        kind = type(exc).__name__
        if kind == "CellTimeoutError" and timeout:
            what = f"did not finish within {timeout:g} s ({kind})"
        elif kind == "DeadKernelError":
            what = f"stopped the kernel ({kind}: {str(exc).strip() or 'the kernel died'})"
        else:
            what = f"raised {kind}: {_first_line(str(exc))}"
        if not started:
            return f"{kind}: {_first_line(str(exc))}", None
        index = started[-1]
        source, exec_count = cells[index].source, cells[index].get("execution_count")
    # papermill's index counts its injected-parameters cell; report the index of the
    # cell in notebooks/NAME.ipynb, the file a person opens to fix it.
    if cells is not None:
        index -= sum(1 for c in cells[:index] if "injected-parameters" in c.get("metadata", {}).get("tags", []))
    first = _first_line(source)
    if not (0 <= index < len(source_nb.cells)) or _first_line(source_nb.cells[index].source) != first:
        # Fall back on finding the cell by its text.
        matches = [i for i, c in enumerate(source_nb.cells) if c.source == source]
        if len(matches) == 1:
            index = matches[0]
    prompt = f"In [{exec_count}]" if exec_count is not None else "not run"
    return f"cell {index} ({prompt}: {first!r}) {what}", index


def run_report(
    name: str,
    parameters: Mapping[str, Any] | None = None,
    *,
    notebooks_dir: str | os.PathLike | None = None,
    reports_dir: str | os.PathLike | None = None,
    progress: bool = True,
    kernel_name: str | None = None,
    timeout: float | None = None,
) -> ReportRun:
    """Run ``notebooks/NAME.ipynb`` and write ``reports/NAME.ipynb``, ``NAME.html``, the index.

    Parameters
    ----------
    name : str
        The report, i.e. the notebook's file name without ``.ipynb``.
    parameters : dict, optional
        Values for the notebook's ``parameters`` cell; text is converted to the declared
        type. Unknown names raise :class:`~crmkit.errors.ParameterError`.
    notebooks_dir, reports_dir : path, optional
        Default to :func:`crmkit.config.notebooks_dir` and :func:`crmkit.config.reports_dir`.
    progress : bool
        Show a tqdm progress bar over the notebook's cells.
    kernel_name : str, optional
        Jupyter kernel to run on; default ``python3`` on this interpreter, whatever the
        notebook's metadata says.
    timeout : float, optional
        Seconds a single cell may run (default: no limit).

    Returns
    -------
    ReportRun

    Raises
    ------
    ParameterError
        Unknown report or parameter, or a value that does not convert.
    ReportError
        The notebook failed. The last good report is kept, the failed notebook is
        written to ``reports/NAME.failed.ipynb``; the error names the cell. The error
        carries ``report``, ``cell_index``, ``failed_notebook`` and ``run`` attributes.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    nb_dir = Path(notebooks_dir) if notebooks_dir is not None else config.notebooks_dir()
    out_dir = Path(reports_dir) if reports_dir is not None else config.reports_dir()
    source_path = _notebook_path(name, nb_dir)
    source_nb = _read_notebook(source_path)
    declared = notebook_parameters(source_path)
    values, secrets = _split_secrets(convert_parameters(declared, parameters, report=name))
    title, description = _describe_notebook(source_nb)
    per = _fan_out_key(source_nb)
    report, name = name, _output_stem(name, per, values)
    if name != report:
        title = f"{title or report} · {values[per]}"

    out_dir.mkdir(parents=True, exist_ok=True)
    final_nb, final_html = out_dir / f"{name}.ipynb", out_dir / f"{name}.html"
    failed_nb, sidecar = out_dir / f"{name}{_FAILED_SUFFIX}", out_dir / f"{name}{_RUN_SUFFIX}"
    token = uuid.uuid4().hex[:8]
    tmp_nb, tmp_html = out_dir / f".{name}.{token}.ipynb", out_dir / f".{name}.{token}.html.tmp"

    def fail(exc: Exception, what: str, cell_index: int | None) -> ReportError:
        """Keep the last good report, leave the notebook as NAME.failed.ipynb, record, say why."""
        duration = time.perf_counter() - t0
        _remove(tmp_html)
        os.replace(tmp_nb, failed_nb)
        last_good = final_html if final_html.exists() else None
        kept = f"the last good report {last_good} is kept" if last_good else "there is no earlier good report"
        message = f"report {name!r} failed: {what}. The failed notebook is {failed_nb}; {kept}."
        run = ReportRun(name, failed_nb, last_good, values, started_at, duration, False, message)
        _write_sidecar(sidecar, run, declared, title, description, source_path, failure=True, cause=what)
        build_index(out_dir)
        err = ReportError(message)
        err.report, err.cell_index, err.failed_notebook, err.run = name, cell_index, failed_nb, run
        return err

    with tempfile.TemporaryDirectory(prefix="crmkit-kernel-") as scratch:
        kernel_log = Path(scratch) / "kernel.log"
        started_at, t0 = _utcnow(), time.perf_counter()
        try:
            with open(kernel_log, "wb") as log, _quiet_papermill():
                executed = pm.execute_notebook(
                    str(source_path),
                    str(tmp_nb),
                    parameters=values,
                    kernel_name=kernel_name or DEFAULT_KERNEL,
                    progress_bar={"desc": name, "leave": True} if progress else False,
                    start_timeout=120,
                    execution_timeout=timeout,
                    kernel_manager_class=_clean_kernel_manager(
                        nb_dir.resolve(), Path(scratch) / "ipython", log, secrets
                    ),
                )
        except Exception as exc:
            log_tail = _tail(kernel_log)
            if not tmp_nb.exists():  # the kernel did not even start
                raise ReportError(
                    f"report {name!r} could not run: {type(exc).__name__}: {exc}"
                    + (f"\nKernel output:\n{log_tail}" if log_tail else "")
                ) from exc
            what, cell_index = _failure_details(exc, tmp_nb, source_nb, timeout)
            if log_tail and not isinstance(exc, PapermillExecutionError) and type(exc).__name__ != "CellTimeoutError":
                what += f"\nKernel output:\n{log_tail}"
            raise fail(exc, what, cell_index) from exc
        except BaseException:  # KeyboardInterrupt: leave nothing half-written
            _remove(tmp_nb)
            raise

    try:
        footer = (
            f"crmkit report <b>{html.escape(report)}</b> · run {started_at:%Y-%m-%d %H:%M} UTC,"
            f" executed in {time.perf_counter() - t0:.1f} s"
            + (" · " + html.escape(_format_parameters(values)) if values else " · default parameters")
            + f' · <a href="{quote(final_nb.name)}">notebook with code</a> · <a href="{INDEX_NAME}">all reports</a>'
        )
        tmp_html.write_text(_render_html(executed, title=title or name, footer_html=footer), encoding="utf-8")
    except Exception as exc:
        raise fail(exc, f"the notebook ran, but its HTML could not be written ({type(exc).__name__}: {exc})", None) from exc
    except BaseException:
        _remove(tmp_nb)
        _remove(tmp_html)
        raise
    duration = time.perf_counter() - t0

    os.replace(tmp_nb, final_nb)
    os.replace(tmp_html, final_html)
    _remove(failed_nb)
    run = ReportRun(name, final_nb, final_html, values, started_at, duration, True)
    _write_sidecar(sidecar, run, declared, title, description, source_path, failure=False)
    build_index(out_dir)
    return run


def _split_secrets(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Take passwords out of connection-URL parameters before they reach the notebook.

    papermill writes parameter values into the executed notebook, so a PostgreSQL URL's
    password goes to the kernel's environment as ``PGPASSWORD`` (where libpq reads it)
    and the notebook sees the URL without it. A URL of another kind with a password is
    refused: there is no standard place to pass it.

    >>> _split_secrets({"source": "postgresql://ann:pw@db/crm", "n": 3})
    ({'source': 'postgresql://ann@db/crm', 'n': 3}, {'PGPASSWORD': 'pw'})
    """
    from urllib.parse import unquote, urlsplit

    from crmkit._engines import mask_url

    clean, secrets = dict(values), {}
    for key, value in values.items():
        if not isinstance(value, str) or "://" not in value or _mask(value) == value:
            continue
        parts = urlsplit(value)
        if parts.scheme not in ("postgresql", "postgres"):
            raise ParameterError(
                f"{key}: a password in a {parts.scheme}:// URL would be written into the report; "
                "give it through the engine's environment variable instead."
            )
        secrets["PGPASSWORD"] = unquote(parts.password or "")
        clean[key] = mask_url(value)
    return clean, secrets


_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^/:@\s]+:)[^@/\s]+@", re.IGNORECASE)


def _mask(value: Any) -> Any:
    """A parameter value fit to show and store: a password in a connection URL becomes ***."""
    if isinstance(value, str):
        return _URL_PASSWORD.sub(r"\g<head>***@", value)
    if isinstance(value, (list, tuple)):
        return [_mask(v) for v in value]
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    return value


def _format_parameters(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={_mask(v)!r}" for k, v in values.items())


def _write_sidecar(
    path, run: ReportRun, declared, title, description, source_path, *, failure: bool, cause: str = ""
) -> None:
    record = {
        "name": run.name,
        "title": title,
        "description": description,
        "source": str(source_path),
        "started_at": run.started_at.isoformat(timespec="seconds"),
        "finished_at": run.finished_at.isoformat(timespec="seconds"),
        "duration_s": round(run.duration_s, 2),
        "parameters": _jsonable(run.parameters),
        "defaults": {k: _jsonable(p.default) for k, p in declared.items()},
        "notebook": run.notebook_path.name,
        "html": run.html_path.name if run.html_path else None,
        "failure": None,
    }
    if failure:
        previous = _read_sidecar(path)
        good = {k: v for k, v in (previous or {}).items() if k != "failure"} if previous and previous.get("html") else None
        failure_record = {
            "started_at": record["started_at"],
            "duration_s": record["duration_s"],
            "parameters": record["parameters"],
            "notebook": run.notebook_path.name,
            "error": run.error,
            "cause": cause,
        }
        # Without a record of the last good run, say nothing about it but where it is.
        unknown = dict.fromkeys(["started_at", "finished_at", "duration_s", "parameters", "defaults", "notebook"])
        record = good or {**record, **unknown}
        record["failure"] = failure_record
    _write_text_atomic(path, json.dumps(record, indent=2, ensure_ascii=False) + "\n")


def _read_sidecar(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def run_all(
    parameters: Mapping[str, Any] | None = None,
    *,
    notebooks_dir: str | os.PathLike | None = None,
    reports_dir: str | os.PathLike | None = None,
    progress: bool = True,
    kernel_name: str | None = None,
    timeout: float | None = None,
    raise_on_error: bool = True,
) -> list[ReportRun]:
    """Run every report; each gets the ``parameters`` it declares.

    A report whose notebook metadata says ``"crmkit": {"per": "campaign_id"}`` runs once
    per campaign in its source (``NAME-<campaign_id>.html``), unless ``parameters`` fix
    the campaign.

    A parameter that no report declares is a :class:`~crmkit.errors.ParameterError`,
    raised before anything runs. A report that fails does not stop the others; when
    all have run, a :class:`~crmkit.errors.ReportError` lists the failures (its ``runs``
    attribute holds every :class:`ReportRun`) unless ``raise_on_error=False``, in which
    case failed runs come back with ``ok=False`` and their ``error``.
    """
    nb_dir = Path(notebooks_dir) if notebooks_dir is not None else config.notebooks_dir()
    names = list_reports(nb_dir)
    parameters = dict(parameters or {})
    declared = {n: notebook_parameters(nb_dir / f"{n}.ipynb") for n in names}
    every: dict[str, ReportParameter] = {}
    for d in declared.values():
        for k, p in d.items():
            every.setdefault(k, p)
    unknown = set(parameters) - set(every)
    if unknown:
        raise ParameterError(_unknown_parameter_message("all reports", unknown, every))
    # Convert up front so that a bad value stops the batch before the first run.
    for n in names:
        convert_parameters(declared[n], {k: v for k, v in parameters.items() if k in declared[n]}, report=n)

    # A report marked ``"per": KEY`` runs once per value of KEY in its source (one
    # evaluation per campaign), unless the caller fixed KEY.
    jobs: list[tuple[str, dict[str, Any]]] = []
    for n in names:
        mine = {k: v for k, v in parameters.items() if k in declared[n]}
        per = _fan_out_key(_read_notebook(nb_dir / f"{n}.ipynb"))
        if per and per in declared[n] and str(mine.get(per, "") or "") == "":
            values = _fan_out_values(per, mine)
            jobs.extend((n, {**mine, per: v}) for v in values)
            if not values:
                jobs.append((n, mine))
        else:
            jobs.append((n, mine))

    runs: list[ReportRun] = []
    for n, mine in jobs:
        try:
            runs.append(
                run_report(
                    n, mine, notebooks_dir=nb_dir, reports_dir=reports_dir,
                    progress=progress, kernel_name=kernel_name, timeout=timeout,
                )
            )
        except ReportError as exc:
            run = getattr(exc, "run", None)
            if run is None:
                raise
            runs.append(run)
    failed = [r for r in runs if not r.ok]
    if failed and raise_on_error:
        err = ReportError(
            f"{len(failed)} of {len(runs)} reports failed:\n" + "\n".join(f"- {r.error}" for r in failed)
        )
        err.runs = runs
        raise err
    return runs


# --------------------------------------------------------------------------- index

_INDEX_CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2430;
       max-width: 1100px; margin: 2rem auto; padding: 0 1rem; background: #fafbfc; }
h1 { font-size: 1.6rem; margin: 0 0 .3rem; }
p.lead { color: #4a5568; margin: 0 0 1.5rem; max-width: 60em; }
table { border-collapse: collapse; width: 100%; background: #fff; box-shadow: 0 1px 3px rgba(0,0,0,.08); }
th, td { text-align: left; vertical-align: top; padding: .6rem .8rem; border-bottom: 1px solid #e5e8ec; }
th { background: #f0f3f7; font-size: .8rem; text-transform: uppercase; letter-spacing: .04em; color: #4a5568; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
td.when { white-space: nowrap; }
a { color: #1f5fa8; text-decoration: none; } a:hover { text-decoration: underline; }
.title { font-weight: 600; font-size: 1rem; }
.desc { color: #4a5568; font-size: .88rem; }
.params { margin: 0; padding: 0; list-style: none; font: 12.5px/1.5 ui-monospace, Menlo, Consolas, monospace; }
.params .default { color: #8a94a3; }
.ok { color: #1e7b34; font-weight: 600; }
.failed { color: #b42318; font-weight: 600; }
.error { color: #b42318; font-size: .85rem; max-width: 32em; white-space: pre-wrap; overflow-wrap: anywhere; }
.small { font-size: .82rem; color: #4a5568; }
footer { margin-top: 1.5rem; color: #8a94a3; font-size: .8rem; }
"""


def _fmt_time(iso: str | None) -> str:
    if not iso:
        return "—"
    try:
        t = dt.datetime.fromisoformat(iso)
    except ValueError:
        return html.escape(iso)
    if t.tzinfo is not None:
        t = t.astimezone(dt.timezone.utc)
    return f"{t:%Y-%m-%d %H:%M} UTC"


def _fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, s = divmod(round(seconds), 60)
    return f"{minutes} min {s:02d} s"


def _params_html(record: Mapping[str, Any], key: str = "parameters") -> str:
    passed = record.get(key) or {}
    defaults = record.get("defaults") or {}
    items = []
    for k in list(defaults) + [k for k in passed if k not in defaults]:
        if k in passed:
            items.append(f"<li>{html.escape(k)} = {html.escape(repr(passed[k]))}</li>")
        else:
            items.append(f'<li class="default">{html.escape(k)} = {html.escape(repr(defaults[k]))} (default)</li>')
    return f'<ul class="params">{"".join(items)}</ul>' if items else '<span class="small">none</span>'


def _link(target: str | None, text: str) -> str:
    if not target:
        return ""
    return f'<a href="{html.escape(quote(target))}">{html.escape(text)}</a>'


def build_index(reports_dir: str | os.PathLike | None = None) -> Path:
    """Write ``reports/index.html``: every report in the folder, when it ran, with what.

    Reports are found by their ``NAME.run.json`` records and ``NAME.html`` files; a
    report whose last run failed shows the error and links the failed notebook.
    Returns the path of the index.
    """
    out_dir = Path(reports_dir) if reports_dir is not None else config.reports_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    names = {p.name[: -len(_RUN_SUFFIX)] for p in out_dir.glob(f"*{_RUN_SUFFIX}") if not p.name.startswith(".")}
    names |= {p.stem for p in out_dir.glob("*.html") if p.name != INDEX_NAME and not p.name.startswith(".")}
    rows = []
    for name in sorted(names):
        record = _read_sidecar(out_dir / f"{name}{_RUN_SUFFIX}") or {}
        html_name = record.get("html") if record else (f"{name}.html" if (out_dir / f"{name}.html").exists() else None)
        if html_name and not (out_dir / html_name).exists():
            html_name = None
        nb_name = record.get("notebook") or (f"{name}.ipynb" if (out_dir / f"{name}.ipynb").exists() else None)
        if nb_name and not (out_dir / nb_name).exists():
            nb_name = None
        failure = record.get("failure")
        title = record.get("title") or name
        head = _link(html_name, title) if html_name else html.escape(title)
        desc = html.escape(record.get("description") or "")
        report_cell = (
            f'<div class="title">{head}</div>'
            + (f'<div class="desc">{desc}</div>' if desc else "")
            + f'<div class="small">{html.escape(name)}'
            + (f" · {_link(nb_name, 'notebook with code')}" if nb_name else "")
            + "</div>"
        )
        if failure:
            status = (
                '<span class="failed">last run failed</span>'
                f'<div class="small">{_fmt_time(failure.get("started_at"))} · '
                f'{_link(failure.get("notebook"), "failed notebook")}</div>'
                f'<div class="error">{html.escape(failure.get("cause") or failure.get("error") or "")}</div>'
                + ('<div class="small">Shown: the last good report.</div>' if html_name else "")
            )
        else:
            status = '<span class="ok">ok</span>' if record else '<span class="small">no run record</span>'
        rows.append(
            "<tr>"
            f"<td>{report_cell}</td>"
            f"<td>{status}</td>"
            f'<td class="when">{_fmt_time(record.get("finished_at"))}</td>'
            f'<td class="num">{_fmt_duration(record.get("duration_s"))}</td>'
            f"<td>{_params_html(record) if record else ''}</td>"
            "</tr>"
        )
    body = (
        "\n".join(rows)
        if rows
        else '<tr><td colspan="5" class="small">No reports yet. Run <code>crmkit report all</code>.</td></tr>'
    )
    generated = _utcnow()
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>crmkit report pack</title>
<style>{_INDEX_CSS}</style>
</head>
<body>
<h1>crmkit report pack</h1>
<p class="lead">Each report below is a notebook from <code>notebooks/</code>, run from top to bottom on the
data named in its parameters and saved as a web page without code. The pages open offline: charts are
embedded, nothing is fetched from the internet. Click a chart to zoom, hover for values. The notebook with
code sits beside each report for analysts; a run that failed keeps the last good report and links the
failed notebook.</p>
<table>
<thead><tr><th>Report</th><th>Status</th><th>Finished</th><th>Duration</th><th>Parameters</th></tr></thead>
<tbody>
{body}
</tbody>
</table>
<footer>Index written {generated:%Y-%m-%d %H:%M} UTC by crmkit. Parameters in grey are the notebook's defaults.</footer>
</body>
</html>
"""
    path = out_dir / INDEX_NAME
    _write_text_atomic(path, page)
    return path
