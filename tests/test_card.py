"""The dataset card README.md: front matter the Hub reads, counts, provenance, escaping."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml

from zslabel.card import md
from zslabel.config import JobConfig
from zslabel.runner import run_job

from .conftest import LABELS


def front_matter(text: str) -> dict[str, object]:
    assert text.startswith("---\n")
    header = yaml.safe_load(text.split("---\n")[1])
    assert isinstance(header, dict)
    return header


def test_card_maps_splits_to_files_and_states_the_counts(
    texts_file: Path, fake_job: Callable[..., JobConfig]
) -> None:
    result = run_job(fake_job(texts_file, output={"format": "jsonl"}))
    text = (result.output_dir / "README.md").read_text()
    header = front_matter(text)
    assert header["task_categories"] == ["text-classification"]
    assert header["configs"] == [
        {
            "config_name": "default",
            "data_files": [
                # Largest first, then by name: manifest.json keeps no key order.
                {"split": "train", "path": "train.jsonl"},
                {"split": "test", "path": "test.jsonl"},
                {"split": "validation", "path": "validation.jsonl"},
            ],
        }
    ]
    for split in ("train", "validation", "test"):
        assert (result.output_dir / f"{split}.jsonl").is_file()
    status = result.counts["status"]
    assert f"{status['accepted']} rows" in text
    assert f"{status['abstained']} were set aside" in text
    for name in LABELS:
        c = result.counts["classes"][name]
        assert f"| {name} | {name} | {c['accepted']} | {c['abstained']} |" in text
    splits = result.counts["splits"]
    assert f"train {splits['train']}, test {splits['test']}, validation {splits['validation']}" in (
        text
    )


def test_card_names_sources_thresholds_and_limits(
    texts_file: Path, fake_job: Callable[..., JobConfig]
) -> None:
    result = run_job(
        fake_job(
            texts_file,
            sources=[{"kind": "fake"}, {"kind": "fake", "seed": 4, "name": "second"}],
            selection={"min_margin": 0.05},
        )
    )
    text = (result.output_dir / "README.md").read_text()
    assert "**fake** (fake)" in text
    assert "**second** (fake): seed `4`" in text
    assert "min\\_margin 0.05" in text
    assert "## Intended use" in text
    assert "## Known limits" in text
    assert "correlated errors" in text  # the several-sources limit


def test_markdown_in_user_text_is_made_inert() -> None:
    assert md("a|b") == "a\\|b"
    assert md("<img src=x onerror=alert(1)>") == "\\<img src=x onerror=alert(1)\\>"
    assert md("line\nbreak  here") == "line break here"


def test_card_lists_only_splits_that_have_rows(
    texts_file: Path, fake_job: Callable[..., JobConfig]
) -> None:
    # datasets.load_dataset(OUT) fails on a card naming a split without rows.
    splits = {"train": 0.5, "validation": 0.5, "test": 0.0}
    result = run_job(fake_job(texts_file, output={"splits": splits}))
    header = front_matter((result.output_dir / "README.md").read_text())
    assert result.counts["splits"]["test"] == 0
    assert [f["split"] for f in header["configs"][0]["data_files"]] == ["train", "validation"]
