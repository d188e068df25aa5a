from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from zslabel.config import JobConfig, Label, RulesSourceSpec
from zslabel.errors import ConfigError
from zslabel.runner import run_job
from zslabel.sources import RulesSource

LABELS = [Label(name=n, descriptions=(n,)) for n in ("billing", "shipping", "other")]


def rules(**spec: object) -> RulesSource:
    raw = {
        "name": "rules",
        "rules": {
            "billing": {"keywords": ["refund", "invoice"], "regex": [r"charged \w+ times?"]},
            "shipping": {"keywords": ["parcel", "tracking number"]},
        },
        **spec,
    }
    return RulesSource(RulesSourceSpec.model_validate(raw), LABELS)


def test_rules_vote_for_labels_and_abstain_elsewhere() -> None:
    source = rules()
    texts = ["Where is my PARCEL?", "Refund please, I was charged two times", "hello", "Refunds?"]
    probs = source.probabilities(source.featurize(texts))
    np.testing.assert_allclose(probs[0], [0, 1, 0])
    np.testing.assert_allclose(probs[1], [1, 0, 0])  # two billing rules fired
    assert np.isnan(probs[2]).all()  # no rule: the source abstains
    assert np.isnan(probs[3]).all()  # keywords match whole words only


def test_conflicting_rules_split_the_vote() -> None:
    source = rules()
    probs = source.probabilities(source.featurize(["refund for the lost parcel"]))
    np.testing.assert_allclose(probs[0], [0.5, 0.5, 0])


def test_case_sensitive_rules() -> None:
    source = rules(case_sensitive=True)
    assert np.isnan(source.probabilities(source.featurize(["REFUND"]))).all()


def test_rules_must_name_labels_and_compile() -> None:
    base = {"input": {"path": "x"}, "labels": ["a", "b"], "output": {"dir": "o"}}
    with pytest.raises(ConfigError, match=r"sources\[0\]\.rules\.c: unknown label\(s\) \['c'\]"):
        JobConfig.from_dict({**base, "sources": [{"kind": "rules", "rules": {"c": {}}}]})
    with pytest.raises(ConfigError, match="invalid regular expression"):
        JobConfig.from_dict(
            {**base, "sources": [{"kind": "rules", "rules": {"a": {"regex": ["(unclosed"]}}}]}
        )


def test_rules_combine_with_another_source(
    write_parquet: Callable[..., Path], tmp_path: Path
) -> None:
    path = write_parquet({"text": ["refund now", "my parcel", "nothing to see"]})
    job = JobConfig.from_dict(
        {
            "input": {"path": str(path)},
            "labels": ["billing", "shipping", "other"],
            "sources": [
                {"kind": "fake", "seed": 3},
                {
                    "kind": "rules",
                    "weight": 10,
                    "rules": {
                        "billing": {"keywords": ["refund"]},
                        "shipping": {"keywords": ["parcel"]},
                    },
                },
            ],
            "selection": {"per_class_top_fraction": 1.0},
            "output": {"dir": str(tmp_path / "out")},
        }
    )
    result = run_job(job)
    labels = pq.read_table(result.output_dir / "labeled.parquet").column("zs_label").to_pylist()
    assert labels[:2] == ["billing", "shipping"]  # the heavily weighted rules decide
    assert [s["kind"] for s in result.manifest["sources"]] == ["fake", "rules"]


@pytest.mark.parametrize("method", ["mean", "vote", "dawid_skene"])
def test_every_combine_method_labels_every_row_and_keeps_each_sources_verdict(
    write_parquet: Callable[..., Path], tmp_path: Path, method: str
) -> None:
    texts = [f"ticket {i}: " + ("refund" if i % 3 == 0 else "parcel" if i % 3 == 1 else "hi")
             for i in range(60)]  # fmt: skip
    path = write_parquet({"text": texts})
    job = JobConfig.from_dict(
        {
            "input": {"path": str(path)},
            "labels": ["billing", "shipping", "other"],
            "sources": [
                {"kind": "fake", "seed": 1},
                {"kind": "fake", "seed": 2},
                {
                    "kind": "rules",
                    "rules": {
                        "billing": {"keywords": ["refund"]},
                        "shipping": {"keywords": ["parcel"]},
                    },
                },
            ],
            "combine": {"method": method},
            "selection": {"per_class_top_fraction": 1.0, "min_above_chance": None},
            "output": {"dir": str(tmp_path / method)},
        }
    )
    result = run_job(job)
    assert result.counts["status"]["accepted"] == 60
    assert result.manifest["combine"]["method"] == method
    diagnostics = result.manifest["source_diagnostics"]["sources"]
    assert diagnostics["rules"]["coverage"] == pytest.approx(40 / 60, abs=1e-3)
    assert diagnostics["fake_0"]["coverage"] == 1.0
    table = pq.read_table(result.output_dir / "labeled.parquet")
    rules_labels = table.column("zs_source_rules_label").to_pylist()
    assert rules_labels[:3] == ["billing", "shipping", None]
    assert table.column("zs_source_fake_0_confidence").null_count == 0


def test_rows_no_source_scores_are_abstained_for_review(
    write_parquet: Callable[..., Path], tmp_path: Path
) -> None:
    path = write_parquet({"text": ["refund please", "good morning", None]})
    job = JobConfig.from_dict(
        {
            "input": {"path": str(path)},
            "labels": ["billing", "other"],
            "sources": [{"kind": "rules", "rules": {"billing": {"keywords": ["refund"]}}}],
            "selection": {"per_class_top_fraction": 1.0},
            "output": {"dir": str(tmp_path / "out")},
        }
    )
    result = run_job(job)
    rows = pq.read_table(result.output_dir / "labeled.parquet").to_pylist()
    assert [(r["zs_status"], r["zs_reason"]) for r in rows] == [
        ("accepted", None),
        ("abstained", "no_source_scored"),
        ("invalid", "null_text"),
    ]
    assert rows[1]["zs_label"] is None
    assert result.counts["abstain_reasons"] == {"no_source_scored": 1}
