"""Every fenced code block of README.md and the documentation site is run or checked, so that a
copy-pasted example works: tests/docs_blocks.py has the rules and the marker comments that
change them. Each test id is the block's ``page:line``.

The Python and shell blocks run for real, with the packaged default model (marked slow: about
100 CPU-seconds without the Prefect pages' blocks, most of it the README's quick start;
``make test`` runs them). A page's blocks share one folder and one Python
namespace, in page order; running a single block first runs the page's earlier ones.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import traceback
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from zslabel.config import load_job
from zslabel.jobyaml import construct, load_yaml_nodes

from .docs_blocks import (
    MINIMAL_JOB,
    PARSED,
    PYTHON,
    YAML,
    Block,
    all_blocks,
    blocks,
    command_env,
    commands,
    describe_failure,
    pages,
    prepare_template,
    python_code,
    run_command,
    runnable,
)

BLOCKS = all_blocks()
RUNNABLE = [b for b in BLOCKS if runnable(b)]
CHECKED = [b for b in BLOCKS if b.lang in YAML | PARSED]


def test_every_block_has_a_rule_and_every_marker_fits() -> None:
    problems = [problem for path in pages() for problem in blocks(path)[1]]
    assert not problems, "\n".join(problems)


def test_the_pages_have_blocks_of_every_kind() -> None:
    # The parser finds what the rules are for: a change that made it see no blocks would
    # otherwise pass every other test here by running nothing.
    found = {b.lang for b in BLOCKS}
    assert {"python", "bash", "yaml"} <= found
    assert any(b.page == "README.md" for b in RUNNABLE)
    assert all(commands(b) for b in RUNNABLE if b.lang not in PYTHON)


SAMPLE = """\
Text.

<!-- docs-test: skip (needs a server) -->
```bash
zslabel run job.yaml
```

<!-- docs-test: exit 2 -->
```console
$ zslabel label job.yaml \\
    --out out/a   # a comment
zslabel: error: ...
$ make test
```

```yaml
a: 1
```
<!-- docs-test: skip () -->
```python
x = 1
```

<!-- docs-test: fragment -->

```python
y = 2
```

```toml
k = 1
```
"""


def test_the_rules_read_markers_and_commands(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(SAMPLE, encoding="utf-8")
    found, problems = blocks(page)
    assert [(b.line, b.lang) for b in found] == [
        (4, "bash"), (9, "console"), (16, "yaml"), (20, "python"), (26, "python"), (30, "toml")
    ]  # fmt: skip
    assert found[0].marker is not None
    assert (found[0].marker.kind, found[0].marker.arg) == ("skip", "needs a server")
    assert found[1].marker is not None
    assert (found[1].marker.kind, found[1].marker.arg) == ("exit", "2")
    assert found[2].marker is None
    assert commands(found[0]) == ["zslabel run job.yaml"]
    # A continued line is one command; output and other commands in a console block are not.
    assert commands(found[1]) == ["zslabel label job.yaml --out out/a   # a comment"]
    assert problems == [
        "page.md: line 19: '<!-- docs-test: skip () -->': a skip needs its reason in parentheses",
        "page.md:24: marker not on the line before a block",
        "page.md:30: no rule for a ```toml block (known: bash, console, json, py, python, sh,"
        " shell, xml, yaml, yml, text or none); add one to tests/docs_blocks.py or mark it"
        " <!-- docs-test: skip (reason) -->",
    ]


@pytest.mark.parametrize("block", CHECKED, ids=[b.id for b in CHECKED])
def test_data_block_is_valid(block: Block, tmp_path: Path) -> None:
    """yaml blocks are job files (or fragments of one), xml and json blocks parse."""
    if block.marker and block.marker.kind == "skip":
        pytest.skip(block.marker.arg)
    if block.lang == "xml":
        ET.fromstring(block.code)
    elif block.lang == "json":
        json.loads(block.code)
    else:
        found = construct(load_yaml_nodes(block.code))
        assert isinstance(found, dict), f"{block.id}: a job file is a mapping of job keys"
        job = tmp_path / "job.yaml"
        if block.marker and block.marker.kind == "fragment":
            job.write_text(yaml.safe_dump(MINIMAL_JOB), encoding="utf-8")
            load_job(job, overrides=found)
        else:
            missing = sorted({"input", "labels"} - set(found))
            assert not missing, (
                f"{block.id}: no {', '.join(missing)}: not a whole job file; mark a part of one"
                " <!-- docs-test: fragment -->"
            )
            job.write_text(block.code, encoding="utf-8")
            load_job(job)


@dataclass
class Page:
    """One page's run: its folder, its Python namespace, the blocks done and those that failed."""

    folder: Path
    namespace: dict[str, Any] = field(default_factory=dict)
    done: set[int] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)


class Pages(dict[str, Page]):
    """The pages run so far; a page's folder is a fresh copy of the template on first use."""

    def __init__(self, template: Path, root: Path) -> None:
        super().__init__()
        self.template = template
        self.root = root
        # What each sequence of blocks did, by their code: a page that ends with the same
        # sequence as one already run (the README's quick start is the Quick start page's)
        # starts from the same template, so it would do the same.
        self.results: dict[tuple[str, ...], str | None] = {}

    def __missing__(self, page: str) -> Page:
        folder = self.root / page.replace("/", "-")
        shutil.copytree(self.template, folder, symlinks=True)
        self[page] = Page(folder)
        return self[page]


@pytest.fixture(scope="session")
def docs_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("docs-cache")


@pytest.fixture(scope="session")
def docs_pages(tmp_path_factory: pytest.TempPathFactory, docs_cache: Path) -> Pages:
    template = tmp_path_factory.mktemp("docs-template")
    prepare_template(template, command_env(dict(os.environ), docs_cache))
    return Pages(template, tmp_path_factory.mktemp("docs-pages"))


@pytest.mark.slow
@pytest.mark.parametrize("block", RUNNABLE, ids=[b.id for b in RUNNABLE])
def test_block_runs(
    block: Block, docs_pages: Pages, docs_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if block.marker and _skipped(block):
        pytest.skip(block.marker.arg)
    page = docs_pages[block.page]
    env = command_env(dict(os.environ), docs_cache)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(page.folder)
    on_page = [b for b in RUNNABLE if b.page == block.page and not _skipped(b)]
    for i, each in enumerate(on_page):
        if each.line > block.line:
            break
        if each.line in page.done:
            continue
        page.done.add(each.line)
        sequence = tuple(b.code for b in on_page[: i + 1])
        if i + 1 < len(on_page) or sequence not in docs_pages.results:
            docs_pages.results[sequence] = _run(each, page, env)
        if docs_pages.results[sequence]:
            page.failed[each.id] = str(docs_pages.results[sequence])
    if block.id in page.failed:
        prior = [f for f in page.failed if f != block.id]
        note = f"\n(earlier blocks of this page that failed: {', '.join(prior)})" if prior else ""
        pytest.fail(f"{block.id}: {page.failed[block.id]}{note}", pytrace=False)


def _skipped(block: Block) -> bool:
    return block.marker is not None and block.marker.kind == "skip"


def _run(block: Block, page: Page, env: dict[str, str]) -> str | None:
    """Run one block in the page's folder; what went wrong, or None."""
    if block.lang in PYTHON:
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                for code in python_code(block):
                    exec(code, page.namespace)
        except Exception:
            return traceback.format_exc(limit=-4)
        return None
    expected = int(block.marker.arg) if block.marker and block.marker.kind == "exit" else 0
    for line in commands(block):
        done = run_command(line, page.folder, env)
        if done.returncode != expected:
            return describe_failure(line, done, expected)
    return None
