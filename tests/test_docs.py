"""The examples in crmkit's docstrings run (doctest)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import crmkit

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(crmkit.__path__, "crmkit.") if m.name not in ("crmkit.cli",)
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {name}"
