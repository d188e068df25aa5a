"""The flow abstains rows in languages no model covers, as the library does."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import make_texts
from tests.flows.test_label_flow import snapshot
from tests.test_row_languages import REFINE, mixed_texts
from zslabel.config import JobConfig
from zslabel.flows.label_dataset import label_dataset
from zslabel.runner import run_job
from zslabel.selection import UNCOVERED_LANGUAGE

pytestmark = pytest.mark.usefixtures("prefect_server")


def test_the_flow_abstains_uncovered_languages_as_the_library_does(
    tiny_model: Path,
    tmp_path: Path,
    write_parquet: Callable[..., Path],
    fake_job: Callable[..., JobConfig],
    caplog: pytest.LogCaptureFixture,
) -> None:
    model = shutil.copytree(tiny_model, tmp_path / "tiny-en")
    (model / "README.md").write_text("---\nlanguage: en\n---\n")
    texts, foreign = mixed_texts(make_texts(60), 6)
    config = fake_job(
        write_parquet({"text": texts}),
        sources=[{"kind": "embedding", "model": str(model), "refine": REFINE}],
    )
    outcome = label_dataset(job=config.model_dump(mode="json"))
    assert isinstance(outcome, dict)
    out = Path(outcome["output_dir"])
    labeled = pd.read_parquet(out / "labeled.parquet")
    assert (labeled["zs_reason"][foreign] == UNCOVERED_LANGUAGE).all()
    assert outcome["manifest"]["language"]["rows"]["uncovered"] == sum(foreign)
    # The summary's warnings reach the run log, where a scheduled run's are read.
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert outcome["manifest"]["language"]["warning"] in warned
    flow_files = snapshot(out)
    shutil.rmtree(out)
    run_job(config)
    assert snapshot(out) == flow_files
