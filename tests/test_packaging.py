"""pyproject.toml and environment.yml agree; the README's commands are the ones CI runs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
# PyPI name -> conda-forge name, where they differ
CONDA_NAMES = {"duckdb": "python-duckdb"}


def _pyproject_requirements() -> dict[str, str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(meta["dependencies"]) + [r for extra in meta["optional-dependencies"].values() for r in extra]
    out = {}
    for text in reqs:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        out[CONDA_NAMES.get(name, name)] = str(req.specifier)
    return out


def _conda_requirements() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    out = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):  # the pip: section
            continue
        m = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", dep)
        name, spec = canonicalize_name(m.group(1)), m.group(2).replace(" ", "")
        if name in ("python", "pip"):
            continue
        out[name] = str(Requirement(f"x{spec}").specifier) if spec else ""
    return out


def test_environment_yml_and_pyproject_agree():
    py, conda = _pyproject_requirements(), _conda_requirements()
    assert sorted(set(py) - set(conda)) == [], "in pyproject.toml but not in environment.yml"
    assert sorted(set(conda) - set(py)) == [], "in environment.yml but not in pyproject.toml"
    differ = {n: (py[n], conda[n]) for n in py if py[n] != conda[n]}
    assert differ == {}, "version specifiers differ (pyproject, environment.yml)"


def test_python_version_agrees():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert f"python{meta['requires-python']}" in env["dependencies"]


def _quick_start_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(?:bash|sh)?\n(.*?)\n```", section, flags=re.S)


def test_readme_quick_start_has_two_commands_and_ci_runs_the_test_one():
    commands = _quick_start_commands()
    assert len(commands) == 2, commands
    ci = (ROOT / ".ci" / "run").read_text()
    assert commands[1].strip() in ci.splitlines(), "`.ci/run` must call the README's test command exactly"


def test_generated_folders_are_kept_but_ignored():
    ignore = (ROOT / ".gitignore").read_text().splitlines()
    for folder in ("data", "reports"):
        assert (ROOT / folder / "README.md").is_file()
        assert f"{folder}/*" in ignore and f"!{folder}/README.md" in ignore
