"""The flow's incremental versions carry their label prototype rows as the library's do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.test_refine_versions import check_carried, weekly_settings
from zslabel.flows.label_dataset import label_dataset

pytestmark = pytest.mark.usefixtures("prefect_server")


def test_flow_versions_carry_the_prototype_rows(tiny_model: Path, tmp_path: Path) -> None:
    data, out = tmp_path / "in", tmp_path / "out"
    job = weekly_settings(tiny_model, data, out)

    def run() -> dict[str, Any]:
        outcome = label_dataset(job=job)
        assert isinstance(outcome, dict)
        manifest: dict[str, Any] = outcome["manifest"]
        return manifest

    check_carried(run, data, out)
