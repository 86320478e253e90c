"""One error hierarchy for crmkit.

Every error subclasses :class:`CrmkitError` and the built-in exception that callers
already catch. Messages say where, what was expected, what was found and how to fix it.
"""

from __future__ import annotations

__all__ = [
    "CrmkitError",
    "DataValidationError",
    "SourceError",
    "ParameterError",
    "ReportError",
    "ConvergenceError",
]


class CrmkitError(Exception):
    """Base class of every error crmkit raises on purpose."""


class DataValidationError(CrmkitError, ValueError):
    """Data does not fit the CRM data model (a whole table or column is unusable)."""


class SourceError(CrmkitError, OSError):
    """A whole file or store cannot be read: missing, unreadable, empty, wrong format."""


class ParameterError(CrmkitError, ValueError):
    """A caller passed an argument crmkit cannot use."""


class ReportError(CrmkitError, RuntimeError):
    """A report notebook failed to run or render."""


class ConvergenceError(CrmkitError, RuntimeError):
    """A model fit did not converge; the message says what was found and what to try."""
