"""The one exception hierarchy of zslabel.

    ZslabelError                     base of everything zslabel raises on purpose
     +-- ConfigError (ValueError)    the job file or CLI options are wrong
     +-- InputError (ValueError)     the input dataset is missing, unreadable or has the wrong shape
     +-- ModelError (RuntimeError)   a model cannot be resolved or loaded
     +-- OutputError (OSError)       the output or work folder cannot be written

Each subclasses a built-in as well, so callers that do not know zslabel can still catch
``ValueError`` or ``OSError``. Messages are one line, name the file, column, key or row, and say
what was expected: the CLI prints them as they are, without a traceback.
"""

from __future__ import annotations


class ZslabelError(Exception):
    """Base class of every error zslabel raises on purpose."""


class ConfigError(ZslabelError, ValueError):
    """The job file or an option is invalid."""


class InputError(ZslabelError, ValueError):
    """The input dataset is missing, unreadable or does not have the expected shape."""


class ModelError(ZslabelError, RuntimeError):
    """A model could not be resolved or loaded."""


class OutputError(ZslabelError, OSError):
    """The output or work folder cannot be written."""
