"""The flow's entrypoint resolves to the installed package from any project folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]

LOAD = """
from prefect.flows import load_flow_from_entrypoint
flow = load_flow_from_entrypoint({entrypoint!r})
print(flow.name, flow.fn.__module__)
"""


def test_workers_load_the_flow_from_the_package_not_the_project(tmp_path: Path) -> None:
    """A worker imports the deployment's entrypoint in the project's folder, which may have a
    ``flows`` package of its own: the module path finds zslabel's flow regardless."""
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "__init__.py").write_text('raise ImportError("the user\'s own flows")\n')
    config = yaml.safe_load((REPO / "prefect.yaml").read_text(encoding="utf-8"))
    [entrypoint] = {deployment["entrypoint"] for deployment in config["deployments"]}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(tmp_path / "home")
    proc = subprocess.run(
        [sys.executable, "-c", LOAD.format(entrypoint=entrypoint)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["label-dataset", "zslabel.flows.label_dataset"]
