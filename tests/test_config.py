from __future__ import annotations

from pathlib import Path

import pytest

from zslabel.config import JobConfig, load_job
from zslabel.errors import ConfigError

GOOD = """\
input:  {path: tickets.parquet, text_column: text, id_column: ticket_id}
labels:
  billing: "an invoice, a charge, a refund or a payment"
  shipping: ["a delivery", "a late or lost parcel"]
sources:
  - {kind: embedding, model: default, template: "This text is about {description}."}
selection: {min_confidence: 0.0, per_class_top_fraction: 0.5}
output: {dir: out/tickets, format: parquet, splits: {train: 0.8, validation: 0.1, test: 0.1}, seed: 0}
"""  # noqa: E501 - the job file example from the README, kept whole


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "job.yaml"
    path.write_text(text)
    return path


def test_the_documented_example_loads_and_resolves_paths_next_to_the_file(tmp_path: Path) -> None:
    job = load_job(write(tmp_path, GOOD))
    assert job.label_names == ("billing", "shipping")
    assert job.labels[1].descriptions == ("a delivery", "a late or lost parcel")
    assert job.input.path == str(tmp_path / "tickets.parquet")
    assert job.output.dir == str(tmp_path / "out/tickets")
    assert job.sources[0].name == "embedding"


def test_a_list_of_names_becomes_labels_described_in_words(tmp_path: Path) -> None:
    job = JobConfig.from_dict(
        {"input": {"path": "x"}, "labels": ["card_arrival", "top_up"], "output": {"dir": "o"}}
    )
    assert job.labels[0].descriptions == ("card arrival",)


def test_unknown_key_is_named_with_its_line_and_the_key_it_likely_means(tmp_path: Path) -> None:
    text = GOOD.replace("selection: {", "selection: {min_confidance: 0.5, ")
    with pytest.raises(ConfigError) as caught:
        load_job(write(tmp_path, text))
    assert str(caught.value) == (
        f"{tmp_path / 'job.yaml'}: selection.min_confidance, line 7: unknown key; "
        "did you mean min_confidence?"
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"selectoin": {}}, "selectoin: unknown key; did you mean selection?"),
        (
            {"sources": [{"kind": "embedding", "modle": "default"}]},
            "sources[0].modle: unknown key; did you mean model?",
        ),
        ({"input": {"path": "x", "text_colum": "t"}}, "did you mean text_column?"),
        ({"student": {"roundz": 2}}, "student.roundz: unknown key; did you mean rounds?"),
        (
            {"labels": {"a": {"examplez": ["an a"]}, "b": None}},
            "labels.a.examplez: label 'a': unknown key(s) ['examplez']; did you mean examples?",
        ),
        # Nothing close: no guess.
        ({"selection": {"zzz": 1}}, "selection.zzz: unknown key"),
        # A key typed at the wrong indent is a key of another section: name it.
        ({"model": "default"}, "model: unknown key here; model is a key of sources[] or student"),
        ({"min_confidence": 0.5}, "min_confidence is a key of selection (check its indent)"),
        # ... before a look-alike of this section (a top-level `device` is no misspelt `review`)
        ({"device": "cpu"}, "device: unknown key here; device is a key of sources[] or student"),
        # A key of another kind of source is no indent slip.
        (
            {"sources": [{"kind": "rules", "rules": {}, "model": "x"}]},
            "sources[0].model: unknown key for this kind of source; model is a key of "
            "embedding, nli, clip",
        ),
        ({"selection": None}, "selection: has no value; indent its keys under it, or remove it"),
        # pydantic's "Unable to extract tag using discriminator 'kind'", in the job's words.
        (
            {"sources": [{"type": "embedding"}]},
            "sources[0]: missing key kind: one of embedding, nli, clip, rules, fake; "
            "type: embedding should be kind: embedding",
        ),
        (
            {"sources": [{"kind": "embeding"}]},
            "sources[0]: kind 'embeding' is not a source kind (embedding, nli, clip, rules, fake); "
            "did you mean embedding?",
        ),
        (
            {"sources": ["embedding"]},
            "sources[0]: a source is a mapping with a kind: one of embedding, nli, clip, rules, "
            "fake (- kind: embedding)",
        ),
    ],
)
def test_a_mistyped_or_misplaced_key_says_what_to_write(
    raw: dict[str, object], message: str
) -> None:
    job: dict[str, object] = {"input": {"path": "x"}, "labels": ["a", "b"], "output": {"dir": "o"}}
    job.update(raw)
    with pytest.raises(ConfigError) as caught:
        JobConfig.from_dict(job)
    assert message in str(caught.value)
    assert "discriminator" not in str(caught.value)
    if "zzz" in message:
        assert "did you mean" not in str(caught.value)


def test_a_setting_the_mode_refuses_is_named_with_its_line(tmp_path: Path) -> None:
    text = GOOD.replace("selection: {", "multi_label: true\nselection: {").replace(
        "per_class_top_fraction: 0.5", "per_class_top_fraction: 0.3"
    )
    with pytest.raises(ConfigError) as caught:
        load_job(write(tmp_path, text))
    assert str(caught.value).startswith(
        f"{tmp_path / 'job.yaml'}: selection.per_class_top_fraction, line 8: ranks one label "
    )


def test_an_unknown_label_in_a_setting_is_named_with_its_line(tmp_path: Path) -> None:
    text = GOOD.replace("selection: {", "selection: {per_class_min_confidence: {biling: 0.9}, ")
    with pytest.raises(ConfigError) as caught:
        load_job(write(tmp_path, text))
    assert str(caught.value) == (
        f"{tmp_path / 'job.yaml'}: selection.per_class_min_confidence.biling, line 7: unknown "
        "label(s) ['biling']; labels are ['billing', 'shipping']; did you mean 'billing'?"
    )


def test_wrong_type_names_the_key(tmp_path: Path) -> None:
    text = GOOD.replace("seed: 0", "seed: zero")
    with pytest.raises(ConfigError, match=r"output\.seed, line 8"):
        load_job(write(tmp_path, text))


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"job\.yaml, line 2, column 10: YAML syntax error"):
        load_job(write(tmp_path, "input: {path: a}\nlabels: a: b\noutput: {dir: o}\n"))


def test_missing_job_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="job file not found"):
        load_job(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (["only"], "at least 2 labels"),
        (["a", "a"], "duplicate label 'a'"),
        (["a", "  "], "non-empty"),
        ({"a": "", "b": "x"}, "non-empty"),
    ],
)
def test_bad_labels(labels: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        JobConfig.from_dict({"input": {"path": "x"}, "labels": labels, "output": {"dir": "o"}})


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"selection": {"min_confidence": 1.5}}, r"selection\.min_confidence.*less than or equal"),
        ({"selection": {"min_margin": -0.1}}, r"selection\.min_margin"),
        ({"selection": {"per_class_top_fraction": 0}}, r"per_class_top_fraction"),
        ({"selection": {"per_class_min_confidence": {"c": 0.5}}}, r"unknown label\(s\) \['c'\]"),
        ({"output": {"dir": "o", "splits": {"train": 0.8, "test": 0.1}}}, "sum to 1, got 0.9"),
        (
            {"sources": [{"kind": "nope"}]},
            r"sources\[0\]: kind 'nope' is not a source kind \(embedding, nli, clip, rules, fake\)",
        ),
        ({"sources": [{"kind": "embedding", "template": "about {topic}"}]}, "placeholder"),
        ({"sources": [{"kind": "embedding", "temperature": 0}]}, "temperature"),
    ],
)
def test_bad_settings_name_the_key(section: dict[str, object], message: str) -> None:
    raw: dict[str, object] = {"input": {"path": "x"}, "labels": ["a", "b"], "output": {"dir": "o"}}
    raw.update(section)
    with pytest.raises(ConfigError, match=message):
        JobConfig.from_dict(raw)


def test_two_unnamed_sources_of_one_kind_get_distinct_names() -> None:
    job = JobConfig.from_dict(
        {
            "input": {"path": "x"},
            "labels": ["a", "b"],
            "sources": [{"kind": "fake"}, {"kind": "fake", "seed": 1}],
            "output": {"dir": "o"},
        }
    )
    assert [s.name for s in job.sources] == ["fake_0", "fake_1"]


def test_config_is_frozen() -> None:
    job = JobConfig.from_dict({"input": {"path": "x"}, "labels": "a,b", "output": {"dir": "o"}})
    with pytest.raises(ValueError, match="frozen"):
        job.output.seed = 3  # type: ignore[misc]


def test_a_dumped_config_validates_back_to_itself(tmp_path: Path) -> None:
    job = load_job(write(tmp_path, GOOD))
    assert JobConfig.model_validate_json(job.model_dump_json()) == job
    assert JobConfig.from_dict(job.model_dump()) == job
