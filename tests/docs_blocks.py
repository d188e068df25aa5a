"""The fenced code blocks of README.md and docs/, found with a Markdown parser, and the rules
that say how each one is checked (tests/test_docs_examples.py runs them).

The rules, by the block's language:

- ``python``: executed, in one namespace per page, the page's blocks in order (a block may use
  what an earlier one defined), in a prepared folder (:func:`prepare_template`).
- ``bash``, ``sh``, ``shell``, ``console``: each line that starts with ``zslabel `` (after an
  optional ``$`` prompt; a trailing ``\\`` continues it) runs in bash, in the same folder, with the
  virtual environment's ``bin`` first on ``PATH``, and must exit 0. Other lines (``make``, ``pip``,
  ``docker``, ``prefect``, an environment variable before the command, output) do not run.
- ``yaml``: a complete job file is validated with :func:`zslabel.config.load_job`.
- ``xml``, ``json``: parsed.
- no language, ``text``: shown output, not run.

A marker comment on the line just before a block changes its rule:

- ``<!-- docs-test: skip (REASON) -->``: not run (a server, a GPU, a hub model, a synopsis with
  ``[optional]`` parts); the reason is required and is shown as the skip reason.
- ``<!-- docs-test: fragment -->``: a ``yaml`` block that shows part of a job file; it is merged
  over a minimal job (:data:`MINIMAL_JOB`) and validated.
- ``<!-- docs-test: exit N -->``: a shell block that shows an error on purpose; its ``zslabel``
  lines must exit N.
"""

from __future__ import annotations

import doctest
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import CodeType
from typing import Any

from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[1]

PYTHON = frozenset({"python", "py"})
SHELL = frozenset({"bash", "sh", "shell", "console"})
YAML = frozenset({"yaml", "yml"})
PARSED = frozenset({"xml", "json"})
OUTPUT = frozenset({"", "text"})
KNOWN = PYTHON | SHELL | YAML | PARSED | OUTPUT

MARKER = re.compile(r"<!--\s*docs-test:(.*?)-->", re.DOTALL)
MARKER_BODY = re.compile(r"\s*(skip|fragment|exit)\b\s*(.*?)\s*", re.DOTALL)

# The job a `fragment` block is merged over: the example tickets, their five topics and one
# more (the labels the pages' fragments name; six, so that a shortlist of five leaves one out),
# the model-free fake source.
MINIMAL_JOB: dict[str, Any] = {
    "input": {"path": "tickets.parquet", "text_column": "text"},
    "labels": ["billing", "shipping", "account", "defect", "cancellation", "other"],
    "sources": [{"kind": "fake"}],
    "output": {"dir": "out/fragment"},
}


@dataclass(frozen=True)
class Marker:
    """A ``docs-test`` comment: ``kind`` is skip, fragment or exit; ``arg`` the reason or code."""

    kind: str
    arg: str
    line: int


@dataclass(frozen=True)
class Block:
    """One fenced code block: ``line`` is the 1-based line of its opening fence."""

    page: str
    line: int
    lang: str
    code: str
    marker: Marker | None

    @property
    def id(self) -> str:
        """``page:line``, the pytest id that says which block broke."""
        return f"{self.page}:{self.line}"

    @property
    def path(self) -> Path:
        """The page's file (for a page of the repository)."""
        return ROOT / self.page


def pages() -> list[Path]:
    """README.md and every Markdown page of the documentation site."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def parse_marker(html: str, line: int) -> Marker | None:
    """The marker in an HTML comment, or None when it holds none; ValueError if malformed."""
    found = MARKER.search(html)
    if found is None:
        return None
    body = MARKER_BODY.fullmatch(found.group(1))
    where = f"line {line}: {found.group(0)!r}"
    if body is None:
        raise ValueError(f"{where}: expected 'skip (reason)', 'fragment' or 'exit N'")
    kind, arg = body.group(1), body.group(2)
    if kind == "skip":
        reason = re.fullmatch(r"\((.*\S.*)\)", arg, flags=re.DOTALL)
        if reason is None:
            raise ValueError(f"{where}: a skip needs its reason in parentheses")
        arg = " ".join(reason.group(1).split())
    elif kind == "exit" and not arg.isdigit():
        raise ValueError(f"{where}: expected an exit code, as in 'exit 2'")
    elif kind == "fragment" and arg:
        raise ValueError(f"{where}: 'fragment' takes nothing after it")
    return Marker(kind, arg, line)


def blocks(path: Path) -> tuple[list[Block], list[str]]:
    """The page's fenced blocks in order, and the problems with its markers (a malformed one, one
    not on the line just before a block, one that does not fit its block's language)."""
    page = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name
    tokens = MarkdownIt("commonmark").parse(path.read_text(encoding="utf-8"))
    found: list[Block] = []
    problems: list[str] = []
    pending: tuple[Marker, int] | None = None  # a marker and the line a block must start on
    for token in tokens:
        if token.map is None:
            continue
        if token.type == "html_block":
            try:
                marker = parse_marker(token.content, token.map[0] + 1)
            except ValueError as exc:
                problems.append(f"{page}: {exc}")
                continue
            if marker is not None:
                pending = (marker, token.map[1])
            continue
        if token.type != "fence" and token.type != "code_block":
            if pending is not None and token.type.endswith("_open"):
                problems.append(f"{page}:{pending[0].line}: marker not followed by a code block")
                pending = None
            continue
        lang = token.info.split()[0].lower() if token.info.strip() else ""
        marker = None
        if pending is not None:
            if pending[1] == token.map[0]:
                marker = pending[0]
            else:
                problems.append(f"{page}:{pending[0].line}: marker not on the line before a block")
            pending = None
        block = Block(page, token.map[0] + 1, lang, token.content, marker)
        problems.extend(_misfit(block))
        found.append(block)
    if pending is not None:
        problems.append(f"{page}:{pending[0].line}: marker not followed by a code block")
    return found, problems


def _misfit(block: Block) -> list[str]:
    if block.lang not in KNOWN:
        known = ", ".join(sorted(KNOWN - OUTPUT))
        return [
            f"{block.id}: no rule for a ```{block.lang} block (known: {known}, text or none);"
            " add one to tests/docs_blocks.py or mark it <!-- docs-test: skip (reason) -->"
        ]
    kind = block.marker.kind if block.marker else None
    if kind == "fragment" and block.lang not in YAML:
        return [f"{block.id}: 'fragment' is for yaml blocks, not ```{block.lang}"]
    if kind == "exit" and block.lang not in SHELL:
        return [f"{block.id}: 'exit N' is for shell blocks, not ```{block.lang}"]
    return []


def all_blocks() -> list[Block]:
    """Every block of every page (markers already checked by the caller)."""
    return [block for path in pages() for block in blocks(path)[0]]


def commands(block: Block) -> list[str]:
    """The block's ``zslabel`` command lines, continuations joined, prompts and comments kept
    out of the check (bash drops the comment when it runs the line)."""
    lines: list[str] = []
    pending = ""
    for raw in block.code.splitlines():
        line = pending + raw.strip()
        if line.endswith("\\"):
            pending = line[:-1].rstrip() + " "
            continue
        pending = ""
        if block.lang == "console" or line.startswith("$ "):
            if not line.startswith("$ "):
                continue  # output, in a console block
            line = line[2:]
        if line.startswith("zslabel "):
            lines.append(line)
    return lines


def python_code(block: Block) -> list[CodeType]:
    """The block compiled, its line numbers those of the page (so a traceback names the page's
    line); a ``>>>`` session is read with :mod:`doctest`'s parser and its examples run in turn
    (their shown output is not compared)."""
    filename = str(block.path)
    if not block.code.lstrip().startswith(">>>"):
        return [compile("\n" * block.line + block.code, filename, "exec")]
    examples = doctest.DocTestParser().get_examples(block.code)
    return [
        compile("\n" * (block.line + example.lineno) + example.source, filename, "exec")
        for example in examples
    ]


def runnable(block: Block) -> bool:
    """Whether the block has something to execute: Python code or a ``zslabel`` line."""
    if block.lang in PYTHON:
        return True
    return block.lang in SHELL and bool(commands(block))


def readme_job(readme: Path) -> str:
    """The README's job file: its first yaml block with ``input`` and ``labels``."""
    for block in blocks(readme)[0]:
        if block.lang in YAML and re.search(r"^input:", block.code, flags=re.MULTILINE):
            return block.code
    raise AssertionError(f"{readme}: no yaml block with a job file")


def run_command(line: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run one documented command line in bash (as a user would paste it), at most 5 minutes."""
    return subprocess.run(
        ["bash", "-c", line],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def command_env(base: dict[str, str], cache: Path) -> dict[str, str]:
    """The environment of a documented command: the virtual environment first on PATH (as after
    ``. .venv/bin/activate``), offline, and caches kept in this test session's folder."""
    env = dict(base)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    env.update(cache_env(cache))
    return env


def cache_env(cache: Path) -> dict[str, str]:
    """Variables that keep every cache of a documented example out of the user's home."""
    return {
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "ZSLABEL_CACHE_DIR": str(cache / "zslabel"),
        "HF_DATASETS_CACHE": str(cache / "datasets"),
        "PREFECT_HOME": str(cache / "prefect"),
    }


def prepare_template(folder: Path, env: dict[str, str]) -> None:
    """The folder every page's examples run in, a copy per page.

    It holds what the pages refer to: ``examples/`` (the committed example data and job files),
    ``job.yaml`` (the README's job file) with its ``tickets.parquet``, and ``out/tickets``, the
    output of ``zslabel label job.yaml``, for the pages that start from an output folder.
    """
    examples = folder / "examples"
    examples.mkdir(parents=True)
    for source in sorted((ROOT / "examples").iterdir()):
        if source.is_file() and source.suffix in {".parquet", ".yaml", ".json", ".csv"}:
            shutil.copy2(source, examples / source.name)
    shutil.copy2(ROOT / "examples" / "tickets.parquet", folder / "tickets.parquet")
    (folder / "job.yaml").write_text(readme_job(ROOT / "README.md"), encoding="utf-8")
    done = run_command("zslabel label job.yaml", folder, env)
    assert done.returncode == 0, f"preparing {folder}: {done.stderr}"


def describe_failure(line: str, done: subprocess.CompletedProcess[str], expected: int) -> str:
    """What a failed command printed, for the assertion message."""
    tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
    return f"`{line}` exited {done.returncode}, expected {expected}:\n{tail}"
