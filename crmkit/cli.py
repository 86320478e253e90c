"""The ``crmkit`` command.

``crmkit run`` is the main job: build the demo world into the embedded store if it is
absent, render the report pack, and say where to look. The other commands are its parts.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import click

from crmkit import config
from crmkit.errors import CrmkitError

__all__ = ["main"]


def _fail(err: Exception) -> None:
    click.secho(f"Error: {err}", fg="red", err=True)
    sys.exit(2)


def _demo(store: Path | None, customers: int, seed: int, force: bool) -> Path:
    from crmkit import io

    path = Path(store) if store else config.default_store()
    if path.exists() and not force:
        info = io.store_info(path)
        what = f" ({info['n_customers']:,} customers, seed {info['seed']})" if "n_customers" in info else ""
        click.echo(f"Demo store already present: {path}{what}. Use --force to rebuild it.")
        return path
    if force and path.exists():
        path.unlink()
    click.echo(f"Building the demo world ({customers:,} customers, seed {seed}) into {path} …")
    t0 = time.perf_counter()
    io.ensure_demo_store(path, n_customers=customers, seed=seed, progress=True)
    click.echo(f"Done in {time.perf_counter() - t0:,.1f} s: {path}")
    return path


def _parse_params(params: tuple[tuple[str, str], ...]) -> dict[str, str]:
    return {name: value for name, value in params}


def _print_report_runs(runs) -> bool:
    """Print one line per run; return True when every run succeeded."""
    for run in runs:
        if run.ok:
            click.echo(f"  ok      {run.name:<24} {run.duration_s:6.1f} s  {run.html_path}")
        else:
            click.secho(f"  FAILED  {run.name:<24} {run.duration_s:6.1f} s  {run.error}", fg="red")
    return all(run.ok for run in runs)


def _dashboard_hint() -> str:
    return "Dashboards: run `crmkit dashboard overview` and open the URL it prints (Ctrl+C stops it)."


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="crmkit")
def main() -> None:
    """crmkit — a CRM strategy workbench: data model, analyses, reports and dashboards.

    Start with `crmkit run`: it builds the demo world (if absent) and renders the
    report pack into reports/.
    """


@main.command()
@click.option("--customers", default=100_000, show_default=True, help="Size of the demo world, if it must be built.")
@click.option("--seed", default=0, show_default=True, help="Seed of the demo world.")
@click.option("--store", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="DuckDB store to use [default: data/crmkit.duckdb].")
def run(customers: int, seed: int, store: Path | None) -> None:
    """Main job: build the demo store if absent, render every report, print where to look."""
    from crmkit import report

    try:
        path = _demo(store, customers, seed, force=False)
        params = {"source": str(path)} if store else {}
        click.echo("Rendering the report pack …")
        runs = report.run_all(params, raise_on_error=False)
        all_ok = _print_report_runs(runs)
        index = report.build_index()
    except CrmkitError as err:
        _fail(err)
    click.echo(f"\nReport pack: {index}")
    click.echo(f"Open it in a browser: file://{index}")
    click.echo(_dashboard_hint())
    if not all_ok:
        click.secho("Some reports failed: the last good version of each is kept; read NAME.failed.ipynb beside it.", fg="red")
        sys.exit(1)


@main.command()
@click.option("--customers", default=100_000, show_default=True, help="Number of customers.")
@click.option("--seed", default=0, show_default=True, help="Random seed; the same seed gives the same world.")
@click.option("--store", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="DuckDB file to write [default: data/crmkit.duckdb].")
@click.option("--to", "to_url", default=None, metavar="URL",
              help="Write to this engine instead: duckdb:///path.duckdb, postgresql://user@host:port/db "
                   "(password in PGPASSWORD), or a Spark master such as 'local[*]' (Parquet under ?path=, "
                   "default data/lake). Existing CRM tables there are replaced.")
@click.option("--force", is_flag=True, help="Rebuild even if the store exists.")
def demo(customers: int, seed: int, store: Path | None, to_url: str | None, force: bool) -> None:
    """Build the seeded demo world (all eight tables) into the DuckDB store, or into any engine with --to."""
    try:
        if to_url is None:
            _demo(store, customers, seed, force)
            return
        from crmkit import io, synth

        click.echo(f"Building the demo world ({customers:,} customers, seed {seed}) …")
        t0 = time.perf_counter()
        world = synth.demo_world(n_customers=customers, seed=seed, progress=True)
        click.echo(f"Writing it to {io.mask_url(to_url)} …")
        where = io.write_tables(world.data, to_url, meta={"kind": "demo", "n_customers": customers, "seed": seed})
        click.echo(f"Done in {time.perf_counter() - t0:,.1f} s: {where}")
        click.echo(f"Use it with: crmkit report customer_overview --data '{where}'")
    except CrmkitError as err:
        _fail(err)


@main.command()
@click.argument("path")
@click.option("--rejects", "rejects_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the set-aside rows [default: data/rejects/<source name>].")
@click.option("--strict", is_flag=True, help="Exit with status 1 when any row is set aside.")
def validate(path: str, rejects_dir: Path | None, strict: bool) -> None:
    """Load and validate a client extract: a folder of CSV/Parquet files, an .xlsx workbook, a .duckdb store
    or an engine URL (postgresql://user@host/db, local[*]?path=…).

    Prints the validation summary and writes the rejects (rows set aside, with row
    number, column and reason). The extract itself is never modified.
    """
    from crmkit import io

    try:
        result = io.load(path)
    except CrmkitError as err:
        _fail(err)
    rep = result.report
    click.echo(f"Validation of {result.source}")
    click.echo(rep.summary().to_string(index=False))
    click.echo("")
    click.echo(rep.line())
    for msg in rep.messages():
        click.echo(f"  - {msg}")
    for note in rep.notes:
        click.echo(f"  note: {note}")
    if rep.rows_set_aside:
        stem = re.sub(r"[^\w.-]+", "_", io.mask_url(path)).strip("_") if io.is_url(path) else Path(path).stem
        folder = rejects_dir or (config.data_dir() / "rejects" / stem)
        io.write_rejects(result, folder)
        click.echo(f"Rejects written to {folder}/ (rejects.csv: one line per row set aside; <table>.csv: the rows as read).")
        if strict:
            sys.exit(1)


@main.command()
@click.argument("name")
@click.option("-p", "--parameter", "params", type=(str, str), multiple=True, metavar="NAME VALUE",
              help="Set a notebook parameter (repeatable), e.g. -p start 2024-01-01.")
@click.option("--data", "data_url", default=None, metavar="SOURCE",
              help="Data source for the report(s), the same as -p source SOURCE: a store, folder or workbook path, "
                   "or an engine URL (postgresql://user@host/db with the password in PGPASSWORD, local[*] …).")
@click.option("--no-progress", is_flag=True, help="Hide the cell progress bar.")
def report(name: str, params: tuple[tuple[str, str], ...], data_url: str | None, no_progress: bool) -> None:
    """Render report NAME (a notebook in notebooks/) or `all` into reports/, and rebuild reports/index.html.

    Use `crmkit report list` to see the reports.
    """
    from crmkit import report as rep

    try:
        if name == "list":
            for n in rep.list_reports():
                click.echo(n)
            return
        parameters = _parse_params(params)
        if data_url is not None:
            parameters["source"] = data_url
        if name == "all":
            runs = rep.run_all(parameters, progress=not no_progress, raise_on_error=False)
        else:
            runs = [rep.run_report(name, parameters, progress=not no_progress)]
        all_ok = _print_report_runs(runs)
        index = rep.build_index()
    except CrmkitError as err:
        _fail(err)
    click.echo(f"Report index: {index}")
    if not all_ok:
        sys.exit(1)


@main.command()
@click.argument("name", default="overview")
@click.option("--port", type=int, default=None, help="Port on 127.0.0.1 [default: a free one].")
@click.option("--data", "--source", "source", default=None, metavar="SOURCE",
              help="Data source for the dashboard: a store path or an engine URL [default: the embedded store].")
@click.option("--list", "list_only", is_flag=True, help="List the dashboards and exit.")
def dashboard(name: str, port: int | None, source: str | None, list_only: bool) -> None:
    """Serve dashboard NAME with Voila on 127.0.0.1 (sources hidden) and print its URL."""
    from crmkit import dashboards

    try:
        if list_only:
            for n in dashboards.list_dashboards():
                click.echo(n)
            return
        click.echo(f"Starting the {name!r} dashboard with Voila on 127.0.0.1 …")
        dashboards.serve(
            name,
            port=port,
            source=source,
            on_ready=lambda url: click.echo(f"Dashboard {name!r}: open {url}  (Ctrl+C stops it)"),
        )
    except CrmkitError as err:
        _fail(err)


if __name__ == "__main__":  # pragma: no cover
    main()
