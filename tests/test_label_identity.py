"""One form of a label everywhere (issue 13, kind 2): Unicode forms at every edge where a label
from outside meets the job's, and labels that a model cannot tell apart."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zslabel.cli import main
from zslabel.errors import ConfigError
from zslabel.evaluate import score_labels
from zslabel.labelnames import canonical_label, describe_mismatch
from zslabel.models import resolve_model
from zslabel.sources.distinct import (
    SIMILAR_PROMPT_COSINE,
    check_distinct_prompts,
    load_tokenizer,
    similar_label_pairs,
)

ENVIO = "envío"  # NFC, as typed
ENVIO_NFD = unicodedata.normalize("NFD", ENVIO)
LABELS = [ENVIO, "factura"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.fixture
def tickets(tmp_path: Path) -> Path:
    """Ten tickets naming their label (the fake source favours it), gold labels written NFD."""
    texts = [f"ticket {i}: {LABELS[i % 2]}" for i in range(10)]
    gold = [unicodedata.normalize("NFD", LABELS[i % 2]) for i in range(10)]
    path = tmp_path / "tickets.parquet"
    pq.write_table(pa.table({"text": texts, "gold": gold}), path)
    return path


def test_eval_matches_a_decomposed_gold_column(
    capsys: pytest.CaptureFixture[str], tickets: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    code, text = run(capsys, "label", str(tickets), "--labels", ",".join(LABELS), "--out",
                     str(out), "--dry-run", "--no-progress")  # fmt: skip
    assert code == 0, text
    code, text = run(capsys, "eval", f"{out}-dry-run", "--gold-column", "gold", "--json")
    report = json.loads(text)
    assert report["forced"]["accuracy"] == 1.0  # was 0.400: no NFD gold label matched
    assert report["accepted"]["accuracy"] == 1.0
    assert report["gold_labels_not_in_job"] == []


def test_eval_says_what_differs_when_a_gold_label_still_does_not_match(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "t.parquet"
    gold = ["Billing", "ref und"]
    pq.write_table(pa.table({"text": ["a billing row", "a refund row"], "gold": gold}), path)
    out = tmp_path / "out"
    run(capsys, "label", str(path), "--labels", "billing,ref_und", "--out", str(out), "--dry-run",
        "--no-progress")  # fmt: skip
    code, text = run(capsys, "eval", f"{out}-dry-run", "--gold-column", "gold")
    assert code == 0
    assert "'Billing' differs from the job's label 'billing' only in letter case" in text
    assert "'ref und' differs from the job's label 'ref_und' only in spaces" in text


def test_decomposed_labels_in_the_job_file_calibration_and_flags_are_the_same_labels(
    capsys: pytest.CaptureFixture[str], tickets: Path, tmp_path: Path
) -> None:
    gold = tmp_path / "gold.parquet"
    pq.write_table(
        pa.table({"text": ["ticket a: factura", f"ticket b: {ENVIO}"] * 2,
                  "label": ["factura", ENVIO_NFD] * 2}),
        gold,
    )  # fmt: skip
    job = tmp_path / "job.yaml"
    job.write_text(
        f"input: {{path: {tickets.name}}}\n"
        f"labels: [{ENVIO_NFD}, factura]\n"
        "sources: [{kind: fake}]\n"
        "calibration: {gold: gold.parquet}\n"
        f"selection: {{per_class_min_confidence: {{{ENVIO_NFD}: 0.1}}}}\n"
        "output: {dir: out}\n",
        encoding="utf-8",
    )
    code, text = run(capsys, "label", str(job), "--no-progress")
    assert code == 0, text
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert [label["name"] for label in manifest["labels"]] == [ENVIO, "factura"]
    assert manifest["selection"]["per_class_min_confidence"] == {ENVIO: 0.1}
    assert manifest["combine"]["calibration"]["rows"] == 4
    assert f"zs_score_{ENVIO}" in pq.read_schema(tmp_path / "out" / "labeled.parquet").names
    # --labels typed decomposed: the same, composed, label.
    code, text = run(capsys, "label", str(tickets), "--labels", f"{ENVIO_NFD},factura", "--out",
                     str(tmp_path / "quick"), "--dry-run", "--no-progress")  # fmt: skip
    quick = json.loads((tmp_path / "quick-dry-run" / "manifest.json").read_text())
    assert [label["name"] for label in quick["labels"]] == [ENVIO, "factura"]


def test_one_label_written_in_two_unicode_forms_is_a_duplicate(
    capsys: pytest.CaptureFixture[str], tickets: Path, tmp_path: Path
) -> None:
    code, text = run(capsys, "label", str(tickets), "--labels", f"{ENVIO},{ENVIO_NFD},factura",
                     "--out", str(tmp_path / "o"), "--dry-run")  # fmt: skip
    assert code == 2
    assert f"duplicate label '{ENVIO}' (written env<U+00ED>o and envi<U+0301>o)" in text


@settings(max_examples=60, deadline=None)
@given(
    names=st.lists(
        st.text(alphabet="aeiouncáéíóúñüçAÉ _", min_size=1, max_size=8).filter(lambda s: s.strip()),
        min_size=2,
        max_size=4,
        unique_by=canonical_label,
    ),
    picks=st.lists(st.integers(0, 3), min_size=1, max_size=20),
    forms=st.lists(st.sampled_from(["NFC", "NFD", "NFKD"]), min_size=20, max_size=20),
)
def test_scores_do_not_depend_on_the_unicode_form_of_gold(
    names: list[str], picks: list[int], forms: list[str]
) -> None:
    names = [canonical_label(name) for name in names]
    gold = [names[p % len(names)] for p in picks]
    written = [unicodedata.normalize(forms[i], g) for i, g in enumerate(gold)]
    status = ["accepted"] * len(gold)
    assert score_labels(written, gold, status, names) == score_labels(gold, gold, status, names)


def test_describe_mismatch_names_the_difference() -> None:
    assert describe_mismatch("Billing", ["billing", "refund"]) == (
        "'Billing' differs from the job's label 'billing' only in letter case"
    )
    assert "<U+200B>" in describe_mismatch("refund\u200b", ["billing", "refund"])
    assert describe_mismatch("shipping", ["billing", "refund"]) == ""
    # A misspelling (a new-user trial: a review labeled 'Acount'): the closest label.
    assert describe_mismatch("Acount", ["billing", "account"]) == "did you mean 'account'?"
    assert describe_mismatch("biling", ["billing", "refund"]) == "did you mean 'billing'?"


# -- labels the model cannot tell apart (the packaged all-MiniLM-L6-v2) ---------------------


@pytest.fixture(scope="module")
def tokenizer() -> object:
    return load_tokenizer(resolve_model("default").path)


@pytest.mark.parametrize(
    ("labels", "pair"),
    [
        (["Billing", "billing", "refund"], ("Billing", "billing")),  # uncased model
        (["card_arrival", "card arrival", "refund"], ("card_arrival", "card arrival")),
        (["envío", "envio", "factura"], ("envío", "envio")),  # the tokenizer strips accents
    ],
)
def test_labels_with_the_same_prompt_to_the_model_are_refused_before_scoring(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, labels: list[str], pair: tuple[str, str]
) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"text": ["my bill is wrong", "where is my card"]}), path)
    code, text = run(capsys, "label", str(path), "--labels", ",".join(labels), "--out",
                     str(tmp_path / "o"), "--no-progress")  # fmt: skip
    assert code == 2
    assert text.count("\n") == 1
    assert f"labels {pair[0]!r} and {pair[1]!r} give the model the same prompt" in text
    assert not (tmp_path / "o").exists()  # nothing scored, nothing written


def test_distinct_labels_pass_the_check(tokenizer: object) -> None:
    prompts = [f"This text is about {name}." for name in ("billing", "refund", "card arrival")]
    check_distinct_prompts("embedding", ["billing", "refund", "card_arrival"], prompts,
                           np.arange(3), tokenizer)  # fmt: skip
    with pytest.raises(ConfigError, match="labels 'a' and 'c'"):
        # Several descriptions: refused only when the whole set is the same.
        check_distinct_prompts("nli", ["a", "b", "c"], ["x", "y", "x", "z", "Y", "X"],
                               np.asarray([0, 0, 1, 1, 2, 2]), tokenizer)  # fmt: skip


def test_nearly_identical_labels_are_warned_of_in_summary_manifest_and_report(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "t.parquet"
    texts = ["I want a refund for my order", "my invoice is wrong", "refunds take too long"]
    pq.write_table(pa.table({"text": texts * 3}), path)
    code, text = run(capsys, "label", str(path), "--labels", "refund,refunds,billing", "--out",
                     str(tmp_path / "o"), "--no-progress")  # fmt: skip
    assert code == 0, text
    assert "warning: labels 'refund' and 'refunds' are nearly the same to source 'embedding'" in (
        text
    )
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    (pair,) = manifest["sources"][0]["similar_labels"]
    assert pair["labels"] == ["refund", "refunds"]
    assert pair["cosine"] >= SIMILAR_PROMPT_COSINE
    assert "nearly the same to source" in (tmp_path / "o" / "report.html").read_text()


def test_similar_label_pairs_takes_the_closest_prompts_of_each_pair() -> None:
    references = np.asarray([[1.0, 0.0], [0.0, 1.0], [0.999, 0.0447], [0.6, 0.8]])
    pairs = similar_label_pairs(references, np.asarray([0, 1, 2, 2]), ["a", "b", "c"], 0.95)
    assert pairs == [{"labels": ["a", "c"], "cosine": 0.999}]


@pytest.mark.parametrize("keyword_form", ["NFC", "NFD"])
def test_rule_keywords_fire_whatever_the_unicode_form_of_text_and_rule(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, keyword_form: str
) -> None:
    texts = [f"mi {ENVIO}", f"mi {ENVIO_NFD}", "una factura"]
    pq.write_table(pa.table({"text": texts}), tmp_path / "kw.parquet")
    keyword = unicodedata.normalize(keyword_form, ENVIO)
    (tmp_path / "kw.yaml").write_text(
        "input: {path: kw.parquet}\n"
        f"labels: [{ENVIO}, factura]\n"
        f"sources: [{{kind: rules, rules: {{{ENVIO}: {{keywords: [{keyword}]}}, "
        "factura: {keywords: [factura]}}}]\n"
        "selection: {per_class_top_fraction: 1.0}\n"
        "output: {dir: out}\n",
        encoding="utf-8",
    )
    code, text = run(capsys, "label", str(tmp_path / "kw.yaml"), "--no-progress")
    assert code == 0, text
    rows = pq.read_table(tmp_path / "out" / "labeled.parquet").to_pylist()
    assert [row["zs_label"] for row in rows] == [ENVIO, ENVIO, "factura"]
    assert [row["zs_reason"] for row in rows] == [None, None, None]


def test_a_gold_label_that_differs_only_in_accents_says_so() -> None:
    assert describe_mismatch("envio", [ENVIO, "factura"]) == (
        f"'envio' differs from the job's label '{ENVIO}' only in accents"
    )
