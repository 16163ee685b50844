"""The experiment's expected errors: caused by what the user asked for or by the run folder.

Each is a subclass of :class:`ExperimentError` and of the built-in type it was raised as
before (``ValueError``, ``RuntimeError``), so existing ``except`` clauses still catch it. The
command line prints an :class:`ExperimentError` as a one-line ``error: ...`` message; any
other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = ["DataError", "DeviceError", "ExperimentError", "RunFolderError", "RunLockedError"]


class ExperimentError(Exception):
    """An expected, user-caused error whose message says what to do (no traceback needed)."""


class RunFolderError(ExperimentError, ValueError):
    """A file of a run folder (``results.json``, ``baseline_probe.json``) is damaged or unfinished."""


class RunLockedError(ExperimentError, RuntimeError):
    """Another process holds the run folder's lock."""


class DataError(ExperimentError, ValueError):
    """The data asked for cannot feed the run (e.g. fewer sequences than one batch)."""


class DeviceError(ExperimentError, RuntimeError):
    """The device asked for is a valid name but not available on this machine."""
