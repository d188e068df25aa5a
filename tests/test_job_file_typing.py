"""Job files from the field: what the user typed is what zslabel reads (issue 13, kind 1).

PyYAML's YAML 1.1 read ``yes``/``no``/``on``/``off`` as booleans and ``012`` as octal; job files
are YAML 1.2 with names kept as typed (zslabel.jobyaml).
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zslabel.cli import main
from zslabel.config import load_job
from zslabel.errors import ConfigError

# Scalars that YAML 1.1 (or 1.2) would read as something other than the text typed.
LOOKALIKES = [
    "yes", "no", "on", "off", "y", "n", "Yes", "NO", "true", "False", "null", "Null", "~",
    "1", "012", "0x1F", "0o17", "1e3", ".inf", ".nan", "1:30", "2024-01-01", "-0", "+1",
]  # fmt: skip


def write_job(folder: Path, body: str) -> Path:
    pq.write_table(pa.table({"text": ["yes", "no", "on", "off"] * 5}), folder / "t.parquet")
    path = folder / "job.yaml"
    path.write_text("input: {path: t.parquet}\n" + body + "output: {dir: out}\n")
    return path


def label(capsys: pytest.CaptureFixture[str], job: Path) -> tuple[int, str]:
    code = main(["label", str(job), "--no-progress"])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.parametrize(
    "labels",
    [
        "labels: [yes, no, on, off]\n",
        "labels:\n  yes: agreeing\n  no: declining\n  on: switching on\n  off: switching off\n",
        "labels:\n  - yes\n  - no\n  - {name: on, descriptions: [on]}\n  - {name: off}\n",
    ],
)
def test_yes_no_on_off_are_label_names(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, labels: str
) -> None:
    job = write_job(tmp_path, labels + "sources: [{kind: fake}]\n")
    code, out = label(capsys, job)
    assert code == 0, out
    table = pq.read_table(tmp_path / "out" / "labeled.parquet")
    assert [f"zs_score_{name}" for name in ("yes", "no", "on", "off")] == [
        name for name in table.column_names if name.startswith("zs_score_")
    ]
    # The fake source favours the label named in the text: each row is its own label.
    assert table.column("zs_label").to_pylist() == table.column("text").to_pylist()


def test_rules_and_per_class_keys_read_as_typed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    job = write_job(
        tmp_path,
        "labels: [yes, no, on, off]\n"
        "sources:\n"
        "  - kind: rules\n"
        "    rules:\n"
        "      yes: {keywords: [yes]}\n"
        "      no: {keywords: [no]}\n"
        "      on: {keywords: [on]}\n"
        "      off: {keywords: [off]}\n"
        "selection:\n"
        "  per_class_top_fraction: 1.0\n"
        "  per_class_min_confidence: {yes: 0.5, no: 0.5, on: 0.5, off: 0.99}\n",
    )
    code, out = label(capsys, job)
    assert code == 0, out
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["selection"]["per_class_min_confidence"] == {
        "yes": 0.5, "no": 0.5, "on": 0.5, "off": 0.99,
    }  # fmt: skip
    table = pq.read_table(tmp_path / "out" / "labeled.parquet").to_pylist()
    assert {row["text"] for row in table if row["zs_label"] == row["text"]} == {
        "yes", "no", "on", "off",
    }  # fmt: skip


def test_a_value_of_the_wrong_type_names_its_key_path_and_own_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    job = write_job(
        tmp_path,
        "labels: [yes, no]\n"  # line 2
        "sources:\n"
        "  - kind: fake\n"
        "  - kind: rules\n"
        "    rules:\n"
        "      yes: {keywords: [sure]}\n"
        "      no:\n"  # line 8
        "        keywords: nope\n"  # line 9: a string where a list is expected
        "selection:\n"
        "  per_class_min_confidence:\n"
        "    yes: 0.5\n"
        "    no: high\n",  # line 13
    )
    code, out = label(capsys, job)
    assert code == 2
    assert out.count("\n") == 1
    assert "sources[1].rules.no.keywords, line 9: Input should be a valid tuple" in out
    assert "selection.per_class_min_confidence.no, line 13: Input should be a valid number" in out


def test_a_text_setting_that_looks_like_a_number_is_read_as_typed(tmp_path: Path) -> None:
    job = write_job(
        tmp_path,
        "labels: [1, 2]\n"
        "sources:\n"
        "  - kind: rules\n"
        "    rules: {1: {keywords: [404, 007]}, 2: {regex: [2024]}}\n",
    )
    job.write_text(
        job.read_text().replace("{path: t.parquet}", "{path: t.parquet, id_column: 012}")
    )
    config = load_job(job)
    assert config.label_names == ("1", "2")
    assert config.input.id_column == "012"
    rules = config.sources[0].rules  # type: ignore[union-attr]
    assert rules["1"].keywords == ("404", "007")
    assert rules["2"].regex == ("2024",)


def test_a_null_where_text_is_needed_is_still_refused(tmp_path: Path) -> None:
    job = write_job(tmp_path, "labels: [a, b]\n")
    job.write_text(
        job.read_text().replace("{path: t.parquet}", "{path: t.parquet, text_column: ~}")
    )
    with pytest.raises(ConfigError, match=r"input.text_column, line 1: Input should be a valid"):
        load_job(job)


@settings(max_examples=40, deadline=None)
@given(names=st.lists(st.sampled_from(LOOKALIKES), min_size=2, max_size=5, unique=True))
def test_every_lookalike_is_read_as_typed_wherever_a_label_is_named(
    tmp_path_factory: pytest.TempPathFactory, names: list[str]
) -> None:
    folder = tmp_path_factory.mktemp("job")
    listed = ", ".join(names)
    keyed = "".join(f"\n    {name}: 0.5" for name in names)
    rules = "".join(f"\n      {name}: {{keywords: [{name}]}}" for name in names)
    for body in (
        f"labels: [{listed}]\n",
        "labels:" + "".join(f"\n  {name}: described" for name in names) + "\n",
        "labels:" + "".join(f"\n  - {name}" for name in names) + "\n",
    ):
        path = write_job(
            folder,
            body + f"sources:\n  - kind: rules\n    rules:{rules}\n"
            f"selection:\n  per_class_min_confidence:{keyed}\n",
        )
        config = load_job(path)
        assert config.label_names == tuple(names)
        assert set(config.selection.per_class_min_confidence) == set(names)
        assert set(config.sources[0].rules) == set(names)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        # Names read as typed: yes and "yes" are one key, which YAML 1.2 allows once.
        ('labels: {yes: a, "yes": b, no: c}\n',
         "line 2, column 18: YAML syntax error: duplicate key 'yes' (first on line 2)"),
        ("labels: [a, b]\nselection: {min_confidence: 0.1}\nselection: {min_confidence: 0.9}\n",
         "line 4, column 1: YAML syntax error: duplicate key 'selection' (first on line 3)"),
        ("labels:\n  - name: yes\n  - name: no\n    examples: [x]\n    colour: red\n",
         "labels[1].colour, line 6: label 'no': unknown key(s) ['colour']"),
        ("labels:\n  yes: a\n  no:\n    descriptions:\n      - ok\n      - ''\n",
         "labels.no.descriptions[1], line 7: label 'no': descriptions must be non-empty strings"),
        ("labels:\n",
         "labels, line 2: labels must be a list of names or a mapping of name -> description(s)"),
    ],
)  # fmt: skip
def test_errors_point_at_the_key_or_item_that_is_wrong(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, body: str, message: str
) -> None:
    code, out = label(capsys, write_job(tmp_path, body))
    assert code == 2
    assert out.count("\n") == 1
    assert message in out
