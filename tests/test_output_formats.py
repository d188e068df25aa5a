"""Every output format writes every column type a Parquet file can hold, end to end.

Each case labels a real Parquet file through the CLI with the model-free fake source and reads
the value back from the output file: nested values as JSON (JSON text in CSV cells), bytes as
base64, timestamps as RFC 3339 with their offset, decimals with every digit.
"""

from __future__ import annotations

import base64
import csv
import datetime
import decimal
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from zslabel.cli import main
from zslabel.errors import InputError, OutputError
from zslabel.export import CsvTableWriter, JsonlTableWriter, check_output_types

from .conftest import make_texts

ROWS = 12
UTC = datetime.UTC
JOB = """\
input: {{path: {input}, text_column: text}}
labels: [sports, weather, finance]
sources: [{{kind: fake}}]
selection: {{per_class_top_fraction: 1.0}}
output: {{dir: {out}, format: parquet, splits: {{train: 1.0}}, seed: 0}}
"""


@dataclass(frozen=True)
class Case:
    """A passed-through column: its values, and each one as JSON (jsonl) and as a CSV cell."""

    array: pa.Array
    json: list[Any]
    encoding: str | None = None  # the manifest's note for it in CSV files

    def cell(self, k: int) -> str:
        """The CSV cell of value k: JSON text for nested values, the JSON string as it is."""
        value = self.json[k]
        if value is None:
            return ""
        if isinstance(value, list | dict):
            return json.dumps(value, ensure_ascii=False)
        return value if isinstance(value, str) else str(value)


PARIS = "Europe/Paris"
CASES = {
    "list": Case(
        pa.array([["a", "b"], [], None, ['é, "q"']], pa.list_(pa.string())),
        [["a", "b"], [], None, ['é, "q"']],
        "json",
    ),
    "struct": Case(
        pa.array(
            [{"x": 1, "y": "a"}, None, {"x": None, "y": "b,c"}, {"x": -2, "y": None}],
            pa.struct([("x", pa.int64()), ("y", pa.string())]),
        ),
        [{"x": 1, "y": "a"}, None, {"x": None, "y": "b,c"}, {"x": -2, "y": None}],
        "json",
    ),
    "map": Case(
        pa.array([[("k", 1), ("j", 2)], [], None, [("z", None)]], pa.map_(pa.string(), pa.int64())),
        [{"k": 1, "j": 2}, {}, None, {"z": None}],
        "json",
    ),
    "timestamp_tz": Case(
        pa.array(
            [
                datetime.datetime(2024, 1, 15, 12, 0, tzinfo=UTC),
                datetime.datetime(2024, 7, 15, 12, 30, 1, 250000, tzinfo=UTC),
                None,
                datetime.datetime(1999, 12, 31, 23, 0, tzinfo=UTC),
            ],
            pa.timestamp("us", tz=PARIS),
        ),
        [
            "2024-01-15T13:00:00.000000+01:00",
            "2024-07-15T14:30:01.250000+02:00",
            None,
            "2000-01-01T00:00:00.000000+01:00",
        ],
        "rfc3339",
    ),
    "decimal": Case(
        pa.array(
            [decimal.Decimal(v) for v in ("1.5000", "-12345678901234.0001", "0.0000")],
            pa.decimal128(20, 4),
        ).take([0, 1, None, 2]),
        ["1.5000", "-12345678901234.0001", None, "0.0000"],
    ),
    "binary": Case(
        pa.array([b"\x00\xff\x10", b"plain", None, b"\xe9t\xe9"], pa.binary()),
        ["AP8Q", "cGxhaW4=", None, "6XTp"],
        "base64",
    ),
    "large_string": Case(
        pa.array(["one", "two lines\nand a, comma", None, ""], pa.large_string()),
        ["one", "two lines\nand a, comma", None, ""],
    ),
    "dictionary": Case(
        pa.array(["red", "green", None, "red"]).dictionary_encode(),
        ["red", "green", None, "red"],
    ),
    "null": Case(pa.nulls(4), [None, None, None, None]),
    # Views: pyarrow cannot filter them as they are (the split files are filtered batches).
    "string_view": Case(pa.array(["a", None, "b", "c"], pa.string_view()), ["a", None, "b", "c"]),
    "list_of_binary_view": Case(
        pa.array([[b"\x00"], None, [], [b"ab", None]], pa.list_(pa.binary_view())),
        [["AA=="], None, [], ["YWI=", None]],
        "json",
    ),
}


def column_of(case: Case) -> pa.Array:
    """The case's values cycled over ROWS rows."""
    return pa.concat_arrays([case.array] * (ROWS // len(case.array)))


def write_job(tmp_path: Path, table: pa.Table, *, multi_label: bool = False) -> Path:
    pq.write_table(table, tmp_path / "input.parquet")
    job = tmp_path / "job.yaml"
    text = JOB.format(input=tmp_path / "input.parquet", out=tmp_path / "out")
    if multi_label:  # labels by threshold: a top fraction per class ranks one label a row
        text = (
            text.replace("selection: {per_class_top_fraction: 1.0}\n", "") + "multi_label: true\n"
        )
    job.write_text(text)
    return job


def label(capsys: pytest.CaptureFixture[str], *argv: str) -> None:
    code = main(["label", *argv, "--no-progress"])
    captured = capsys.readouterr()
    assert code == 0, captured.err


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The output file's rows in input order, as its format gives them back."""
    if path.suffix == ".parquet":
        rows = pq.read_table(path).to_pylist()
    elif path.suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    else:
        with open(path, encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
    return sorted(rows, key=lambda row: int(row["zs_row"]))


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "csv"])
@pytest.mark.parametrize("kind", list(CASES))
def test_every_format_writes_every_column_type(
    kind: str, fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = CASES[kind]
    column = column_of(case)
    job = write_job(tmp_path, pa.table({"text": make_texts(ROWS), "extra": column}))
    label(capsys, str(job), "--format", fmt)
    out = tmp_path / "out"
    rows = read_rows(out / f"train.{fmt}")
    assert len(rows) == ROWS
    n = len(case.array)
    if fmt == "parquet":
        # Parquet keeps the type itself (the zone of a timestamp included).
        assert pq.read_schema(out / "train.parquet").field("extra").type == column.type
        assert [row["extra"] for row in rows] == column.to_pylist()
    elif fmt == "jsonl":
        assert [row["extra"] for row in rows] == [case.json[i % n] for i in range(ROWS)]
    else:
        assert [row["extra"] for row in rows] == [case.cell(i % n) for i in range(ROWS)]
    manifest = json.loads((out / "manifest.json").read_text())
    if fmt == "csv":
        assert manifest["files"]["train.csv"].get("encoding", {}).get("extra") == case.encoding
    # The documents that read labeled.parquet back are written as well.
    assert json.loads((out / "review.label_studio.json").read_text()) is not None
    assert (out / "README.md").is_file()
    assert (out / "report.html").is_file()


def test_a_timestamp_keeps_its_offset_and_parses_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    when = pa.array(
        [datetime.datetime(2024, 3, 31, 0, 59, 59, tzinfo=UTC)] * ROWS, pa.timestamp("s", PARIS)
    )
    job = write_job(tmp_path, pa.table({"text": make_texts(ROWS), "when": when}))
    for fmt in ("csv", "jsonl"):
        label(capsys, str(job), "--format", fmt)
        text = read_rows(tmp_path / "out" / f"train.{fmt}")[0]["when"]
        # A second before the clocks move; Parquet stores seconds as milliseconds.
        assert text == "2024-03-31T01:59:59.000+01:00"
        assert datetime.datetime.fromisoformat(text) == when[0].as_py()


def test_jsonl_and_csv_encode_what_json_lacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Datetimes of every unit, decimals, bytes, NaN, bytes and NaN inside nested values, maps
    with other keys; the same rules in a CSV cell's JSON text."""
    nan, inf = float("nan"), float("inf")
    columns = {
        "naive_ms": pa.array([datetime.datetime(2024, 1, 2, 3, 4, 5, 6000)], pa.timestamp("ms")),
        "ns_utc": pa.array([1_700_000_000_123_456_789], pa.timestamp("ns", "UTC")),
        "date": pa.array([datetime.date(2024, 2, 29)]),
        "time_ns": pa.array([3_600_000_000_001], pa.time64("ns")),
        "duration_ms": pa.array([1500], pa.duration("ms")),
        "decimal256": pa.array(
            [decimal.Decimal("123456789012345678901234567890.123")], pa.decimal256(40, 3)
        ),
        "floats": pa.array([[1.5, nan, inf, None]], pa.list_(pa.float64())),
        "nan": pa.array([nan]),
        "fixed_binary": pa.array([b"\x01\x02"], pa.binary(2)),
        "nested_bytes": pa.array(
            [{"b": [b"\xff", None], "m": [(b"\x00", 1.0)]}],
            pa.struct(
                [("b", pa.list_(pa.large_binary())), ("m", pa.map_(pa.binary(), pa.float32()))]
            ),
        ),
        "int_keys": pa.array([[(2, "two"), (1, "one")]], pa.map_(pa.int32(), pa.string())),
        "map_of_lists": pa.array(
            [[("when", [datetime.datetime(2024, 1, 1, tzinfo=UTC)])]],
            pa.map_(pa.string(), pa.list_(pa.timestamp("ms", "America/New_York"))),
        ),
        "dict_of_binary": pa.array([b"\x00"]).dictionary_encode(),
        "fixed_list": pa.array([[1, 2, 3]], pa.list_(pa.int16(), 3)),
        "large_list": pa.array([[{"k": True}]], pa.large_list(pa.struct([("k", pa.bool_())]))),
        "string_view": pa.array(["viewed"], pa.string_view()),
        "half": pa.array([1.5], pa.float16()),
    }
    expected = {
        "naive_ms": "2024-01-02T03:04:05.006",
        "ns_utc": "2023-11-14T22:13:20.123456789+00:00",
        "date": "2024-02-29",
        "time_ns": "01:00:00.000000001",
        "duration_ms": 1500,
        "decimal256": "123456789012345678901234567890.123",
        "floats": [1.5, None, None, None],
        "nan": None,
        "fixed_binary": "AQI=",
        "nested_bytes": {"b": ["/w==", None], "m": {"AA==": 1.0}},
        "int_keys": {"2": "two", "1": "one"},
        "map_of_lists": {"when": ["2023-12-31T19:00:00.000-05:00"]},
        "dict_of_binary": "AA==",
        "fixed_list": [1, 2, 3],
        "large_list": [{"k": True}],
        "string_view": "viewed",
        "half": 1.5,
    }
    table = pa.table(
        {"text": make_texts(ROWS), **{k: pa.concat_arrays([v] * ROWS) for k, v in columns.items()}}
    )
    job = write_job(tmp_path, table)
    label(capsys, str(job), "--format", "jsonl")
    jsonl = read_rows(tmp_path / "out" / "train.jsonl")[0]
    assert {k: jsonl[k] for k in expected} == expected
    label(capsys, str(job), "--format", "csv")
    row = read_rows(tmp_path / "out" / "train.csv")[0]
    cells = {k: row[k] for k in expected}
    assert cells["nan"] == "nan"  # a float cell keeps nan; JSON text has no NaN
    assert cells["half"] == "1.5"
    for name, value in expected.items():
        if isinstance(value, list | dict):
            assert json.loads(cells[name]) == value, name
        elif name not in ("nan", "half"):
            assert cells[name] == str(value), name
    files = json.loads((tmp_path / "out" / "manifest.json").read_text())["files"]
    assert files["train.csv"]["encoding"]["nested_bytes"] == "json"
    assert files["train.csv"]["encoding"]["fixed_binary"] == "base64"
    assert "decimal256" not in files["train.csv"]["encoding"]  # digits as they are


def test_a_binary_text_column_is_text_in_csv_and_other_bytes_are_base64(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    texts = make_texts(ROWS)
    table = pa.table(
        {
            "text": pa.array([t.encode() for t in texts], pa.binary()),
            "blob": pa.array([t.encode() for t in texts], pa.binary()),
        }
    )
    job = write_job(tmp_path, table)
    label(capsys, str(job), "--format", "csv")
    rows = read_rows(tmp_path / "out" / "train.csv")
    assert [row["text"] for row in rows] == texts
    assert rows[0]["blob"] != texts[0]
    assert rows[0]["blob"].encode() == base64.b64encode(texts[0].encode())
    files = json.loads((tmp_path / "out" / "manifest.json").read_text())["files"]
    assert files["train.csv"]["encoding"] == {"blob": "base64", "text": "utf-8"}


MULTI_TEXTS = ["sports and weather today", "finance news", "nothing to see here"] * 4


@pytest.mark.parametrize("how", ["job", "dry-run"])
def test_multi_label_csv_writes_the_label_lists_as_json_text(
    how: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = write_job(tmp_path, pa.table({"text": MULTI_TEXTS}), multi_label=True)
    if how == "job":
        label(capsys, str(job), "--format", "csv")
        out = tmp_path / "out"
    else:
        quick = ["--labels", "sports,weather,finance", "--multi-label", "--dry-run"]
        label(capsys, str(tmp_path / "input.parquet"), *quick, "--format", "csv",
              "--out", str(tmp_path / "quick"))  # fmt: skip
        out = tmp_path / "quick-dry-run"
    by_text = {}
    for name in ("train.csv", "validation.csv", "test.csv"):
        if (out / name).is_file():
            by_text.update({row["text"]: row for row in read_rows(out / name)})
    assert by_text["sports and weather today"]["zs_labels"] == '["sports", "weather"]'
    assert by_text["finance news"]["zs_labels"] == '["finance"]'
    # Rows without labels are abstained: they are in labeled.parquet, not in a split file.
    labeled = pq.read_table(out / "labeled.parquet").to_pylist()
    assert {tuple(r["zs_labels"]) for r in labeled if r["text"] == "nothing to see here"} == {()}
    manifest = json.loads((out / "manifest.json").read_text())
    split_files = [name for name in manifest["files"] if name.endswith(".csv")]
    assert split_files
    assert all(manifest["files"][name]["encoding"]["zs_labels"] == "json" for name in split_files)


def test_text_outputs_are_the_same_bytes_on_a_rerun(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = pa.table({"text": make_texts(ROWS), **{k: column_of(c) for k, c in CASES.items()}})
    job = write_job(tmp_path, table)
    for fmt in ("csv", "jsonl"):
        label(capsys, str(job), "--format", fmt)
        first = (tmp_path / "out" / f"train.{fmt}").read_bytes()
        manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
        (tmp_path / "out" / f"train.{fmt}").unlink()
        (tmp_path / "out" / "manifest.json").unlink()
        label(capsys, str(job), "--format", fmt)
        assert (tmp_path / "out" / f"train.{fmt}").read_bytes() == first
        again = json.loads((tmp_path / "out" / "manifest.json").read_text())
        assert again["files"][f"train.{fmt}"] == manifest["files"][f"train.{fmt}"]


def test_documents_and_commands_that_read_the_outputs_back_take_nested_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    texts = make_texts(ROWS)
    gold = [t.split(": ")[1].split(" ")[0] for t in texts]
    table = pa.table(
        {
            "text": texts,
            "doc_id": [f"d{i}" for i in range(ROWS)],
            "gold": gold,
            **{k: column_of(c) for k, c in CASES.items()},
        }
    )
    job = write_job(tmp_path, table)
    job.write_text(
        job.read_text().replace("text_column: text", "text_column: text, id_column: doc_id")
    )
    label(capsys, str(job), "--format", "jsonl", "--per-class-top-fraction", "0.5")
    out = tmp_path / "out"
    tasks = json.loads((out / "review.label_studio.json").read_text())
    assert tasks
    assert all(task["data"]["zs_key"].startswith("d") for task in tasks)
    assert main(["report", str(out), "--gold-column", "gold"]) == 0
    assert main(["eval", str(out), "--gold-column", "gold", "--json"]) == 0
    capsys.readouterr()


def test_a_type_without_a_rule_is_refused_before_any_scoring(tmp_path: Path) -> None:
    # No Parquet file holds a union; the check stands for any type the writers have no rule for.
    union = pa.sparse_union([pa.field("i", pa.int64()), pa.field("s", pa.string())])
    schema = pa.schema([("text", pa.string()), ("u", union)])
    check_output_types(schema, "parquet", "in.parquet")
    for fmt in ("csv", "jsonl"):
        with pytest.raises(InputError) as caught:
            check_output_types(schema, fmt, "in.parquet")
        assert str(caught.value) == (
            f"in.parquet: column 'u' has type {union}, which cannot be written as {fmt}; "
            "use format: parquet, or drop the column from the input"
        )
    tmp_path.joinpath("staging").mkdir()
    for writer in (CsvTableWriter, JsonlTableWriter):
        with pytest.raises(OutputError, match="use format: parquet"):
            writer(tmp_path / "staging" / "train.x", schema)


def test_every_parquet_type_has_a_rule(tmp_path: Path) -> None:
    """Whatever pyarrow reads back from Parquet, both text formats can write."""
    types = [
        pa.null(), pa.bool_(), pa.int8(), pa.uint64(), pa.float16(), pa.float32(),
        pa.decimal128(5, 2), pa.decimal256(50, 2), pa.string(), pa.large_string(),
        pa.binary(), pa.large_binary(), pa.binary(4), pa.date32(), pa.time32("s"),
        pa.time64("ns"), pa.timestamp("s"), pa.timestamp("ns", "+05:30"), pa.duration("us"),
        pa.list_(pa.int8()), pa.large_list(pa.string()), pa.list_(pa.int8(), 2),
        pa.struct([("a", pa.list_(pa.binary()))]),
        pa.map_(pa.date32(), pa.struct([("b", pa.int8())])),
        pa.dictionary(pa.int32(), pa.string()), pa.dictionary(pa.int8(), pa.binary()),
    ]  # fmt: skip
    for name in ("string_view", "binary_view", "uuid", "json_"):
        if hasattr(pa, name):
            types.append(getattr(pa, name)())
    if hasattr(pa, "list_view"):
        types.append(pa.list_view(pa.string()))
    schema = pa.schema([(f"c{i}", t) for i, t in enumerate(types)])
    pq.write_table(pa.table({f.name: pa.nulls(1, f.type) for f in schema}), tmp_path / "t.parquet")
    read_back = pq.read_schema(tmp_path / "t.parquet")
    for fmt in ("csv", "jsonl"):
        check_output_types(read_back, fmt, "t.parquet")


def test_the_cells_of_sliced_nested_arrays() -> None:
    """Batches are slices of larger arrays (filters, row groups): offsets must be honoured."""
    from zslabel import cells

    lists = pa.array([["a"], None, ["b", "c"], [], ["d"]], pa.list_(pa.string())).slice(1, 3)
    maps = pa.array([[("a", 1)], [("b", 2)], None, [("c", 3)]], pa.map_(pa.string(), pa.int8()))
    structs = pa.array([{"x": 1}, None, {"x": 3}], pa.struct([("x", pa.int8())])).slice(1)
    fixed = pa.array([[1, 2], None, [5, 6]], pa.list_(pa.int8(), 2)).slice(1)
    assert cells.csv_column(lists).to_pylist() == [None, '["b", "c"]', "[]"]
    assert cells.csv_column(maps.slice(1, 3)).to_pylist() == ['{"b": 2}', None, '{"c": 3}']
    assert cells.csv_column(structs).to_pylist() == [None, '{"x": 3}']
    assert cells.csv_column(fixed).to_pylist() == [None, "[5, 6]"]
    nested = pa.DictionaryArray.from_arrays(
        pa.array([1, None, 0], pa.int8()), pa.array([["x"], ["y", "z"]], pa.list_(pa.string()))
    )  # Parquet cannot hold a dictionary of lists, Arrow can
    assert cells.csv_column(nested).to_pylist() == ['["y", "z"]', None, '["x"]']
    if hasattr(pa, "list_view"):
        view = pa.array([["a"], None, []], pa.list_view(pa.string()))
        doubled = pa.concat_arrays([view, view]).slice(1, 4)
        assert cells.csv_column(doubled).to_pylist() == [None, "[]", '["a"]', None]


def test_a_string_view_text_column_reaches_every_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    texts = make_texts(ROWS)
    job = write_job(tmp_path, pa.table({"text": pa.array(texts, pa.string_view())}))
    label(capsys, str(job), "--format", "csv", "--per-class-top-fraction", "0.5")
    out = tmp_path / "out"
    assert sorted(row["text"] for row in read_rows(out / "train.csv")) == sorted(
        row["text"]
        for row in pq.read_table(out / "labeled.parquet").to_pylist()
        if row["zs_status"] == "accepted"
    )
    assert pq.read_schema(out / "abstained.parquet").field("text").type == pa.string_view()
    tasks = json.loads((out / "review.label_studio.json").read_text())
    assert tasks
    assert all(task["data"]["text"] in texts for task in tasks)


def test_small_decimals_keep_positional_digits_and_old_offsets_keep_the_instant() -> None:
    import datetime as dt
    import decimal

    from zslabel.cells import csv_column, json_column

    decimals = pa.array(
        [decimal.Decimal("-0.000000001"), decimal.Decimal("0.000000000"), None],
        pa.decimal128(20, 9),
    )
    for encode in (csv_column, json_column):
        assert encode(decimals).to_pylist() == ["-0.000000001", "0.000000000", None]
    # Amsterdam's offset in 1935 was +00:19:32: no RFC 3339 offset has seconds, so UTC.
    instant = dt.datetime(1935, 6, 1, 12, tzinfo=dt.UTC)
    stamps = pa.array([int(instant.timestamp() * 1e6)], pa.timestamp("us", tz="Europe/Amsterdam"))
    for encode in (csv_column, json_column):
        (text,) = encode(stamps).to_pylist()
        assert text == "1935-06-01T12:00:00.000000Z"
        assert dt.datetime.fromisoformat(text) == instant
