"""The ``zslabel`` command: a thin layer over the library.

Errors zslabel raises on purpose become one line on stderr and a non-zero exit (2 for bad
configuration or input, 1 otherwise), never a traceback. Each command is one module here (its
arguments and its handler, in the order ``zslabel --help`` lists them); ``options`` holds the
flags several commands share and ``jobargs`` turns them into a job.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from zslabel.cli import (
    check,
    demo,
    diff,
    evaluate,
    import_reviews,
    label,
    predict,
    report,
    run,
    serve,
    train,
)
from zslabel.cli.jobargs import JOB_SUFFIXES
from zslabel.errors import ConfigError, InputError, ZslabelError
from zslabel.redact import redact
from zslabel.version import __version__

__all__ = ["EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_USAGE", "JOB_SUFFIXES", "main"]

EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a tool killed by it

# In the order ``zslabel --help`` lists them.
COMMANDS = (label, check, run, serve, evaluate, diff, report, import_reviews, train, predict, demo)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    _quiet_libraries()
    try:
        code: int = args.handler(args)
        return code
    except (ConfigError, InputError) as exc:
        print(f"zslabel: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ZslabelError as exc:
        print(f"zslabel: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        # The reader went away (`zslabel eval OUT | head`): stop quietly, as cat or grep do.
        # Python's own flush at exit would raise again: stdout goes to devnull first
        # (https://docs.python.org/3/library/signal.html#note-on-sigpipe).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except OSError as exc:
        # The machine, not the job: a full disk, a permission, a lost mount, met somewhere the
        # library did not wrap. One line still, and redacted: it may quote a storage URI.
        print(f"zslabel: error: {redact(_one_line(exc))}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("zslabel: interrupted; rerun the same command to resume", file=sys.stderr)
        return EXIT_INTERRUPTED


def _one_line(exc: OSError) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zslabel", description="Bootstrap labeled training data from raw Parquet."
    )
    parser.add_argument("--version", action="version", version=f"zslabel {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(commands)
    return parser


def _quiet_libraries() -> None:
    # Model loading prints progress bars and load reports that bury the summary.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
