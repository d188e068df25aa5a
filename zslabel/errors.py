"""The one exception hierarchy of zslabel.

    ZslabelError                     base of everything zslabel raises on purpose
     +-- ConfigError (ValueError)    the job file or CLI options are wrong
     +-- InputError (ValueError)     the input dataset is missing, unreadable or has the wrong shape
     +-- ModelError (RuntimeError)   a model cannot be resolved or loaded
     +-- OutputError (OSError)       the output or work folder cannot be written

Each subclasses a built-in as well, so callers that do not know zslabel can still catch
``ValueError`` or ``OSError``. Messages are one line, name the file, column, key or row, and say
what was expected: the CLI prints them as they are, without a traceback.

Messages are redacted when the error is made (``s3://KEY:SECRET@bucket`` becomes
``s3://***@bucket``), so that no log, Prefect state or traceback shows a credential that was
part of a path.
"""

from __future__ import annotations

from typing import Any

from zslabel.redact import redact


class ZslabelError(Exception):
    """Base class of every error zslabel raises on purpose."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*(redact(a) if isinstance(a, str) else a for a in args))


class ConfigError(ZslabelError, ValueError):
    """The job file or an option is invalid."""


class InputError(ZslabelError, ValueError):
    """The input dataset is missing, unreadable or does not have the expected shape."""


class ModelError(ZslabelError, RuntimeError):
    """A model could not be resolved or loaded."""


class OutputError(ZslabelError, OSError):
    """The output or work folder cannot be written."""


class DriftFailed(ZslabelError):
    """A threshold of a job with ``drift.on_drift: fail`` was crossed; the version is written.
    ``outcome``: what the ``label-dataset`` flow returns otherwise (output folder, manifest,
    version, student), so that ``zslabel run`` can still print the run's summary."""

    def __init__(self, message: str, outcome: dict[str, Any]) -> None:
        super().__init__(message)
        self.outcome = outcome

    def __reduce__(self) -> tuple[Any, ...]:  # pickled with its outcome (Prefect results)
        return (type(self), (str(self), self.outcome))


class ZslabelWarning(UserWarning):
    """What a run's summary lists as a warning (a class with few accepted rows, similar labels,
    a language the model does not read, drift), raised as a Python warning by
    :func:`zslabel.label_frame`, where no summary is printed."""
