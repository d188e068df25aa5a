from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

import zslabel
from zslabel.demo import generate_tickets

ROOT = Path(__file__).resolve().parents[1]


def test_all_is_sorted_and_complete() -> None:
    assert zslabel.__all__ == sorted(zslabel.__all__)
    public = {name for name in vars(zslabel) if not name.startswith("_")}
    modules = {name for name, value in vars(zslabel).items() if type(value).__name__ == "module"}
    assert public - modules == set(zslabel.__all__) - {"__version__"}


def test_the_library_never_imports_prefect() -> None:
    code = (
        "import sys, zslabel, zslabel.cli, zslabel.runner, zslabel.evaluate, zslabel.demo;"
        "print(any(m == 'prefect' or m.startswith('prefect.') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    for path in (ROOT / "zslabel").rglob("*.py"):
        assert "import prefect" not in path.read_text(), path


def test_the_committed_example_data_is_what_the_generator_writes() -> None:
    committed = pq.read_table(ROOT / "examples" / "tickets.parquet")
    assert committed.equals(generate_tickets())
