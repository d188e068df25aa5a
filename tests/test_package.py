from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pyarrow.parquet as pq
import setuptools

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
    flows = ROOT / "zslabel" / "flows"
    importing = {
        path.parent
        for path in (ROOT / "zslabel").rglob("*.py")
        if re.search(r"^\s*(from|import) prefect\b", path.read_text(), re.MULTILINE)
    }
    assert importing == {flows}  # the Prefect layer, and nothing else


def test_the_flows_ship_inside_zslabel_and_no_top_level_flows_package() -> None:
    """A top-level ``flows`` would shadow (or be shadowed by) a user's own ``flows/`` folder."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = set(setuptools.find_packages(where=str(ROOT), include=include))
    assert "zslabel.flows" in packages
    assert {name.split(".")[0] for name in packages} == {"zslabel"}


def test_the_committed_example_data_is_what_the_generator_writes() -> None:
    committed = pq.read_table(ROOT / "examples" / "tickets.parquet")
    assert committed.equals(generate_tickets())
