"""What pyarrow can read, zslabel labels or refuses in one line (issue 13).

Three kinds, each through ``zslabel label`` (``cli.main``) on real Parquet files with the fake
source, then swept over the kind:

- hive partitions whose files also store the partition key (agreeing or not with the folder);
- text (and other string) columns holding bytes that are not UTF-8, in every string type;
- files written as a few huge row groups: shards are row ranges of a group.
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import make_texts
from zslabel.cli import main
from zslabel.config import InputSpec, JobConfig
from zslabel.dataset import InputDataset, Shard
from zslabel.runner import LabelingJob
from zslabel.utf8 import text_values, utf8_safe

BAD = b"\xff\xfe not UTF-8"
LABELS = "[sports, weather, finance]"


# -- helpers ----------------------------------------------------------------------------------


def write_job(
    tmp: Path, data: Path, *, input_extra: str = "", output_extra: str = "", extra: str = ""
) -> Path:
    job = tmp / "job.yaml"
    job.write_text(
        f"input: {{path: {data}{input_extra}}}\n"
        f"labels: {LABELS}\n"
        "sources: [{kind: fake}]\n"
        f"output: {{dir: {tmp / 'out'}{output_extra}}}\n" + extra,
        encoding="utf-8",
    )
    return job


def label(job: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["label", str(job), "--no-progress"])
    return code, capsys.readouterr().err


def labeled_ok(
    job: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Label ``job``; its labeled rows and manifest. Fails on any error output."""
    code, err = label(job, capsys)
    assert code == 0, err
    assert "Traceback" not in err
    out = job.parent / "out"
    rows = pq.read_table(out / "labeled.parquet").to_pylist()
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return rows, manifest


def refused(job: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """Label ``job`` expecting a one-line refusal; the message."""
    code, err = label(job, capsys)
    assert code == 2, err
    assert err.count("\n") == 1, err
    assert err.startswith("zslabel: error: "), err
    assert "Traceback" not in err
    assert not (job.parent / "out" / "labeled.parquet").exists()
    return err.removeprefix("zslabel: error: ").rstrip("\n")


def invalid_string(values: list[bytes | None], dtype: pa.DataType | None = None) -> pa.Array:
    """A ``string`` (or large_string) array holding exactly these bytes, UTF-8 or not."""
    dtype = dtype or pa.string()
    binary = pa.large_binary() if pa.types.is_large_string(dtype) else pa.binary()
    return pa.array(values, binary).cast(dtype, safe=False)


# -- a. hive partitions whose files store the key too ------------------------------------------

HIVE_TEXTS = {"en": ["sports: a goal", "rain and storm"], "fr": ["bank market"]}


def write_hive(root: Path, *, stored: dict[str, Any] | None = None, **write: Any) -> Path:
    """``root/lang=<value>/part-0.parquet``; ``stored`` maps a folder value to the values its file
    stores in its own ``lang`` column (a scalar repeated, or a list), absent: not stored."""
    start = 0
    for lang, texts in HIVE_TEXTS.items():
        folder = root / f"lang={lang}"
        folder.mkdir(parents=True)
        columns: dict[str, Any] = {"text": texts, "id": list(range(start, start + len(texts)))}
        if stored is not None and lang in stored:
            value = stored[lang]
            columns["lang"] = value if isinstance(value, pa.Array | list) else [value] * len(texts)
        pq.write_table(pa.table(columns), folder / "part-0.parquet", **write)
        start += len(texts)
    return root


def test_hive_files_that_store_their_partition_key_are_labeled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_hive(tmp_path / "data", stored={"en": "en", "fr": "fr"})
    rows, manifest = labeled_ok(write_job(tmp_path, data), capsys)
    assert [(r["id"], r["text"], r["lang"]) for r in rows] == [
        (0, "sports: a goal", "en"),
        (1, "rain and storm", "en"),
        (2, "bank market", "fr"),
    ]
    assert manifest["input"]["columns"] == ["text", "id", "lang"]
    assert manifest["counts"]["rows"] == 3
    assert sum(manifest["counts"]["status"].values()) == 3
    assert manifest["counts"]["status"]["invalid"] == 0


def test_plain_hive_partitions_come_out_as_before(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Files without the key: the key is the last input column, a string, as before issue 13."""
    data = write_hive(tmp_path / "data")
    rows, manifest = labeled_ok(write_job(tmp_path, data), capsys)
    schema = pq.read_schema(tmp_path / "out" / "labeled.parquet")
    assert schema.names[:4] == ["text", "id", "lang", "zs_row"]
    assert schema.field("lang").type == pa.string()
    assert [r["lang"] for r in rows] == ["en", "en", "fr"]
    assert manifest["input"]["columns"] == ["text", "id", "lang"]


def test_a_stored_key_that_disagrees_with_its_folder_is_refused_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_hive(tmp_path / "data", stored={"en": "en", "fr": "de"})
    message = refused(write_job(tmp_path, data), capsys)
    path = data.resolve() / "lang=fr" / "part-0.parquet"
    assert message == (
        f"{path}: partition key 'lang' is 'fr' in the folder name but 'de' in the file's own "
        "'lang' column; move the rows to the folder of their value, or drop the column from "
        "the file (the folder name supplies it)"
    )


NO_STATS: dict[str, Any] = {"write_statistics": False}
# (id, how the files store the key, Parquet writer options, None: labeled / what the refusal says)
HIVE_LAYOUTS: list[tuple[str, dict[str, Any] | None, dict[str, Any], str | None]] = [
    ("not-stored", None, {}, None),
    ("stored-agreeing", {"en": "en", "fr": "fr"}, {}, None),
    ("stored-in-some-files", {"fr": "fr"}, {}, None),
    ("stored-agreeing-no-statistics", {"en": "en", "fr": "fr"}, NO_STATS, None),
    (
        "stored-as-dictionary",
        {
            "en": pa.array(["en", "en"]).dictionary_encode(),
            "fr": pa.array(["fr"]).dictionary_encode(),
        },
        {},
        None,
    ),
    (
        "stored-disagreeing",
        {"en": "en", "fr": "de"},
        {},
        r"lang=fr.*'fr' in the folder name but 'de'",
    ),
    ("disagreeing-in-one-row", {"en": ["en", "es"]}, {}, r"lang=en.*'en' in the folder .* 'es'"),
    ("disagreeing-no-statistics", {"en": ["en", "es"]}, NO_STATS, r"lang=en.*but 'es' in the"),
    ("stored-null", {"fr": pa.array([None], pa.string())}, {}, r"lang=fr.*'fr' .* but None in"),
]


@pytest.mark.parametrize(
    ("stored", "write", "expected"),
    [layout[1:] for layout in HIVE_LAYOUTS],
    ids=[layout[0] for layout in HIVE_LAYOUTS],
)
def test_hive_layouts_are_labeled_or_refused_in_one_line(
    stored: dict[str, Any] | None,
    write: dict[str, Any],
    expected: str | None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = write_hive(tmp_path / "data", stored=stored, **write)
    job = write_job(tmp_path, data)
    if expected is not None:
        assert re.search(expected, refused(job, capsys))
        return
    rows, manifest = labeled_ok(job, capsys)
    assert [(r["text"], str(r["lang"])) for r in rows] == [
        ("sports: a goal", "en"),
        ("rain and storm", "en"),
        ("bank market", "fr"),
    ]
    assert manifest["counts"]["status"]["invalid"] == 0


@pytest.mark.parametrize(
    ("stored_year", "expected"),
    [(2024, None), (2023, r"year=2024.*partition key 'year' is 2024 .* but 2023 in")],
    ids=["agreeing", "disagreeing"],
)
def test_an_integer_key_stored_as_int64_reads_although_folders_infer_int32(
    stored_year: int, expected: str | None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``ds.dataset(partitioning="hive")`` itself fails to merge int64 with int32 here."""
    folder = tmp_path / "data" / "year=2024"
    folder.mkdir(parents=True)
    years = pa.array([stored_year] * 2, pa.int64())
    pq.write_table(pa.table({"text": ["a goal", "rain"], "year": years}), folder / "p.parquet")
    job = write_job(tmp_path, tmp_path / "data")
    if expected is not None:
        assert re.search(expected, refused(job, capsys))
        return
    rows, _ = labeled_ok(job, capsys)
    assert [r["year"] for r in rows] == [2024, 2024]


def test_a_null_partition_with_a_stored_null_key_is_labeled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    for folder, value in (("lang=__HIVE_DEFAULT_PARTITION__", None), ("lang=en", "en")):
        (data / folder).mkdir(parents=True)
        table = pa.table({"text": ["a goal"], "lang": pa.array([value], pa.string())})
        pq.write_table(table, data / folder / "p.parquet")
    rows, _ = labeled_ok(write_job(tmp_path, data), capsys)
    assert sorted(str(r["lang"]) for r in rows) == ["None", "en"]


# -- b. text that is not UTF-8, in every string type ---------------------------------------------

TEXTS: list[bytes | None] = [
    b"sports: a goal",
    BAD,
    b"rain and storm",
    None,
    b"   ",
    b"bank \xc3\xa9 market",
    b"\xc3",
]
VALID_TEXTS: list[bytes | None] = [b"sports: a goal", b"rain and storm", b"bank \xc3\xa9 market"]


def text_array(kind: str, values: list[bytes | None]) -> pa.Array:
    if kind in ("string", "large_string"):
        return invalid_string(values, pa.string() if kind == "string" else pa.large_string())
    if kind == "binary":
        return pa.array(values, pa.binary())
    if kind == "large_binary":
        return pa.array(values, pa.large_binary())
    if kind == "dictionary":
        return invalid_string(values).dictionary_encode()
    if kind == "dictionary_binary":
        return pa.array(values, pa.binary()).dictionary_encode()
    assert kind == "string_view"
    return invalid_string(values).cast(pa.string_view())


TEXT_TYPES = [
    "string",
    "large_string",
    "string_view",
    "binary",
    "large_binary",
    "dictionary",
    "dictionary_binary",
]


def test_invalid_utf8_in_a_string_column_makes_invalid_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As in a binary column: the row is invalid with reason invalid_utf8, the rest labeled."""
    data = tmp_path / "data.parquet"
    texts = invalid_string([b"ok: sports today", b"\xff\xfe bad", b"rain and storm"])
    pq.write_table(pa.table({"text": texts, "id": [1, 2, 3]}), data)
    rows, manifest = labeled_ok(write_job(tmp_path, data), capsys)
    assert [(r["id"], r["zs_status"], r["zs_reason"]) for r in rows][1] == (
        2,
        "invalid",
        "invalid_utf8",
    )
    assert [r["zs_status"] != "invalid" and r["zs_label"] is not None for r in rows] == [
        True,
        False,
        True,
    ]
    assert manifest["counts"]["status"]["invalid"] == 1
    assert manifest["counts"]["invalid_reasons"] == {"invalid_utf8": 1}
    # The output holds UTF-8: the invalid bytes became U+FFFD.
    assert rows[1]["text"] == "\ufffd\ufffd bad"


@pytest.mark.parametrize("output_format", ["parquet", "jsonl", "csv"])
@pytest.mark.parametrize("kind", TEXT_TYPES)
@pytest.mark.parametrize("valid", [True, False], ids=["valid", "invalid"])
def test_every_text_type_gives_the_same_labels_and_reasons(
    kind: str,
    valid: bool,
    output_format: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The sweep: text column types x valid / invalid bytes x output formats."""
    values = VALID_TEXTS if valid else TEXTS
    data = tmp_path / "data.parquet"
    pq.write_table(pa.table({"text": text_array(kind, values)}), data)
    job = write_job(tmp_path, data, output_extra=f", format: {output_format}")
    rows, manifest = labeled_ok(job, capsys)
    counts = manifest["counts"]
    if valid:
        assert counts["status"]["invalid"] == 0
        assert counts["invalid_reasons"] == {}
    else:
        assert counts["status"]["invalid"] == 4
        # null, empty, and the two rows that are not UTF-8 (one a cut-off sequence)
        assert counts["invalid_reasons"] == {"empty_text": 1, "invalid_utf8": 2, "null_text": 1}
        reasons = [r["zs_reason"] for r in rows]
        assert [reasons[i] for i in (1, 3, 4, 6)] == [
            "invalid_utf8",
            "null_text",
            "empty_text",
            "invalid_utf8",
        ]
    labeled = {r["zs_row"]: r["zs_label"] for r in rows if r["zs_status"] != "invalid"}
    assert len(labeled) == 3
    # The labels of the valid texts do not depend on the column's type or its neighbours.
    expected = _labels_of_valid_texts(tmp_path / "baseline", capsys)
    assert sorted(labeled.values(), key=str) == sorted(expected, key=str)
    if output_format != "parquet":
        split = next(p for p in (tmp_path / "out").iterdir() if p.name.startswith("train."))
        split.read_text(encoding="utf-8")  # written as UTF-8


def _labels_of_valid_texts(folder: Path, capsys: pytest.CaptureFixture[str]) -> list[Any]:
    folder.mkdir()
    data = folder / "data.parquet"
    pq.write_table(pa.table({"text": [t.decode() for t in VALID_TEXTS if t is not None]}), data)
    rows, _ = labeled_ok(write_job(folder, data), capsys)
    return [r["zs_label"] for r in rows]


@pytest.mark.parametrize("kind", TEXT_TYPES)
def test_a_text_that_is_not_utf8_reads_as_its_bytes_in_every_type(
    kind: str, tmp_path: Path
) -> None:
    """Same invalid rows, same valid texts and the same fingerprint (so the same cache keys) as
    the same bytes in a binary column."""
    path = tmp_path / f"{kind}.parquet"
    pq.write_table(pa.table({"text": text_array(kind, TEXTS)}), path)
    data = InputDataset(InputSpec(path=str(path)))
    texts = data.read_texts(data.shards[0])
    assert texts.texts == ["sports: a goal", "rain and storm", "bank é market"]
    assert texts.invalid == {1: "invalid_utf8", 3: "null_text", 4: "empty_text", 6: "invalid_utf8"}
    binary = tmp_path / "binary.parquet"
    pq.write_table(pa.table({"text": pa.array(TEXTS, pa.binary())}), binary)
    reference = InputDataset(InputSpec(path=str(binary)))
    assert texts.fingerprint == reference.read_texts(reference.shards[0]).fingerprint
    # And every batch read for the outputs is UTF-8.
    for batch in data.iter_batches(data.shards[0]):
        batch.validate(full=True)
        batch.to_pylist()


def test_valid_texts_keep_their_fingerprint(tmp_path: Path) -> None:
    """Cached shards of valid input keep their keys: the fingerprint hashes the UTF-8 bytes,
    framed, as before."""
    import hashlib

    path = tmp_path / "data.parquet"
    pq.write_table(pa.table({"text": ["ab", "c", None]}), path)
    data = InputDataset(InputSpec(path=str(path)))
    digest = hashlib.blake2b(digest_size=16)
    for value in (b"ab", b"c"):
        digest.update(len(value).to_bytes(8, "little") + value)
    digest.update(b"\xff" * 8)
    assert data.read_texts(data.shards[0]).fingerprint == digest.hexdigest()


@pytest.mark.parametrize(
    "kinds",
    [TEXT_TYPES, ["dictionary", "string", "large_string"], ["large_string", "dictionary"]],
    ids=["with-binary", "dictionary-first", "large-string-first"],
)
def test_files_mixing_text_types_with_invalid_bytes_label_the_rest(
    kinds: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Files of one dataset in different text types (read as the first file's, or as binary
    when one file is binary), every one holding bytes that are not UTF-8."""
    data = tmp_path / "data"
    data.mkdir()
    for i, kind in enumerate(kinds):
        table = pa.table({"text": text_array(kind, TEXTS), "n": [i] * len(TEXTS)})
        pq.write_table(table, data / f"part-{i}.parquet")
    rows, manifest = labeled_ok(write_job(tmp_path, data), capsys)
    assert len(rows) == len(TEXTS) * len(kinds)
    assert manifest["counts"]["invalid_reasons"] == {
        "empty_text": len(kinds),
        "invalid_utf8": 2 * len(kinds),
        "null_text": len(kinds),
    }


def test_an_incremental_job_over_texts_that_are_not_utf8(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Their files' footers hold statistics that are not UTF-8 either: the file fingerprint
    must not decode them, and stays the same from one run to the next."""
    data = tmp_path / "data"
    data.mkdir()
    pq.write_table(pa.table({"text": text_array("string", TEXTS)}), data / "part-0.parquet")
    job = write_job(tmp_path, data, extra="incremental: true\n")
    for _ in range(2):
        code, err = label(job, capsys)
        assert code == 0, err
    index = json.loads((tmp_path / "out" / "versions.json").read_text())
    assert [v["version"] for v in index["versions"]] == ["v0001"]
    assert index["versions"][0]["status"]["invalid"] == 4


def test_other_string_columns_that_are_not_utf8_reach_every_output_repaired(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An id, a list and a struct holding bytes that are not UTF-8: labeled, written with
    U+FFFD, and the review files and JSON lines outputs are written."""
    data = tmp_path / "data.parquet"
    n = 12
    texts = make_texts(n)
    ids = invalid_string([f"id-{i}".encode() + (b"\xff" if i == 3 else b"") for i in range(n)])
    tags = pa.ListArray.from_arrays(
        pa.array(range(n + 1), pa.int32()),
        invalid_string([b"t\xfe" if i == 5 else b"t" for i in range(n)]),
    )
    meta = pa.StructArray.from_arrays(
        [invalid_string([b"s\xff" if i == 7 else b"s" for i in range(n)]), pa.array([b"\xff"] * n)],
        names=["source", "raw"],
    )
    pq.write_table(pa.table({"text": texts, "doc": ids, "tags": tags, "meta": meta}), data)
    job = write_job(tmp_path, data, input_extra=", id_column: doc", output_extra=", format: jsonl")
    rows, manifest = labeled_ok(job, capsys)
    assert manifest["counts"]["status"]["invalid"] == 0
    assert rows[3]["doc"] == "id-3\ufffd"
    assert rows[5]["tags"] == ["t\ufffd"]
    assert rows[7]["meta"] == {"source": "s\ufffd", "raw": b"\xff"}  # binary stays as it is
    out = tmp_path / "out"
    json.loads((out / "review.label_studio.json").read_text(encoding="utf-8"))
    for line in (out / "train.jsonl").read_text(encoding="utf-8").splitlines():
        json.loads(line)


def test_a_gold_file_with_texts_and_labels_that_are_not_utf8(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data.parquet"
    pq.write_table(pa.table({"text": make_texts(12)}), data)
    gold = tmp_path / "gold.parquet"
    gold_texts = invalid_string([b"sports: goal", b"\xff bad", b"rain", b"bank"])
    gold_labels = ["sports", "sports", "weather", "finance"]
    pq.write_table(pa.table({"text": gold_texts, "label": gold_labels}), gold)
    extra = f"calibration: {{gold: {gold}}}\n"
    _, manifest = labeled_ok(write_job(tmp_path, data, extra=extra), capsys)
    calibration = manifest["combine"]["calibration"]
    assert (calibration["rows"], calibration["skipped"]) == (3, 1)
    # A gold label that is not UTF-8 is an unknown label, named with U+FFFD.
    bad_labels = invalid_string([b"sp\xffrts", b"sports", b"weather", b"finance"])
    pq.write_table(pa.table({"text": gold_texts, "label": bad_labels}), gold)
    (tmp_path / "again").mkdir()
    message = refused(write_job(tmp_path / "again", data, extra=extra), capsys)
    assert "gold labels ['sp\ufffdrts'] are not labels of the job" in message


def trained_student(tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A student trained (``zslabel train``) on a labeled run of 60 generated texts."""
    data = tmp_path / "data.parquet"
    pq.write_table(pa.table({"text": make_texts(60)}), data)
    labeled_ok(write_job(tmp_path, data), capsys)
    student = tmp_path / "student"
    train = ["train", str(tmp_path / "out"), "--model", str(tiny_model), "--rounds", "0"]
    assert main([*train, "--out", str(student)]) == 0, capsys.readouterr().err
    return student


def test_a_student_predicts_on_a_file_with_texts_that_are_not_utf8(
    tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    student = trained_student(tmp_path, tiny_model, capsys)
    new = tmp_path / "new.parquet"
    texts = invalid_string([b"sports: a goal", b"\xff\xfe bad", b"rain and storm"])
    pq.write_table(pa.table({"text": texts, "note": texts}), new)
    out = tmp_path / "predicted.parquet"
    code = main(["predict", str(student), str(new), "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    rows = pq.read_table(out).to_pylist()
    assert [r["zs_student_label"] is not None for r in rows] == [True, False, True]
    assert rows[1]["note"] == "\ufffd\ufffd bad"


def test_a_student_reads_partitioned_folders_as_a_labeling_run_does(
    tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    student = trained_student(tmp_path, tiny_model, capsys)
    # A partition only in the folder names reaches the output as a column.
    folders = tmp_path / "folders"
    for lang in ("en", "fr"):
        (folders / f"lang={lang}").mkdir(parents=True)
        pq.write_table(pa.table({"text": make_texts(4)}), folders / f"lang={lang}" / "p.parquet")
    out = tmp_path / "predicted.parquet"
    assert main(["predict", str(student), str(folders), "--out", str(out)]) == 0
    assert pq.read_table(out).column("lang").to_pylist() == ["en"] * 4 + ["fr"] * 4
    # A stored key that disagrees with its folder is refused, as `zslabel label` refuses it.
    wrong = tmp_path / "wrong" / "lang=fr"
    wrong.mkdir(parents=True)
    pq.write_table(pa.table({"text": ["a goal"], "lang": ["de"]}), wrong / "p.parquet")
    code = main(["predict", str(student), str(wrong.parent), "--out", str(tmp_path / "w.parquet")])
    assert code == 2
    assert "partition key 'lang' is 'fr' in the folder name but 'de'" in capsys.readouterr().err


def test_text_values_and_utf8_safe_keep_types_and_nulls() -> None:
    raw = [b"a", b"\xff", None]
    for dtype in (pa.string(), pa.large_string()):
        array = invalid_string(raw, dtype)
        assert text_values(array) == ["a", b"\xff", None]
        fixed = utf8_safe(array)
        assert fixed.type == dtype
        assert fixed.to_pylist() == ["a", "\ufffd", None]
    chunked = pa.chunked_array([invalid_string(raw), invalid_string([b"b"])])
    assert utf8_safe(chunked).to_pylist() == ["a", "\ufffd", None, "b"]
    encoded = invalid_string(raw).dictionary_encode()
    assert utf8_safe(encoded).type == encoded.type
    assert utf8_safe(encoded).to_pylist() == ["a", "\ufffd", None]
    valid = pa.array(["x", "y"])
    assert utf8_safe(valid) is valid  # nothing copied when nothing is wrong


# -- c. huge row groups ------------------------------------------------------------------------


def write_groups(path: Path, groups: list[int], texts: list[str] | None = None) -> list[str]:
    """A file whose row groups have these sizes; its texts."""
    texts = texts or make_texts(sum(groups))
    schema = pa.schema([("text", pa.string()), ("n", pa.int64())])
    with pq.ParquetWriter(path, schema) as writer:
        start = 0
        for size in groups:
            chunk = {"text": texts[start : start + size], "n": list(range(start, start + size))}
            writer.write_table(pa.table(chunk, schema=schema), row_group_size=max(size, 1))
            start += size
    assert _group_sizes(path) == groups
    return texts


def _group_sizes(path: Path) -> list[int]:
    metadata = pq.ParquetFile(path).metadata
    return [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]


def test_a_single_row_group_file_is_split_into_shards(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "one-group.parquet"
    texts = write_groups(data, [100])
    job = write_job(tmp_path, data, input_extra=", shard_rows: 10, batch_rows: 7")
    rows, manifest = labeled_ok(job, capsys)
    assert manifest["input"]["shards"] == 10
    assert [r["text"] for r in rows] == texts  # the export keeps the input order
    assert [r["zs_row"] for r in rows] == list(range(100))
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["shards"] == {"total": 10, "reused": 0, "scored": 10}
    # Each range is cached on its own: a rerun reuses all ten, and gives the same bytes.
    before = (tmp_path / "out" / "labeled.parquet").read_bytes()
    labeled_ok(job, capsys)
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["shards"] == {"total": 10, "reused": 10, "scored": 0}
    assert (tmp_path / "out" / "labeled.parquet").read_bytes() == before


def test_ranges_of_a_group_label_as_row_groups_of_that_size_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Same shard boundaries, same texts: the same fingerprints, labels and output bytes."""
    texts = make_texts(60)
    outputs = []
    for groups in ([60], [20, 20, 20]):
        folder = tmp_path / f"groups-{len(groups)}"
        folder.mkdir()
        write_groups(folder / "data.parquet", groups, texts)
        job = write_job(folder, folder / "data.parquet", input_extra=", shard_rows: 20")
        _, manifest = labeled_ok(job, capsys)
        assert manifest["input"]["shards"] == 3
        outputs.append(((folder / "out" / "labeled.parquet").read_bytes(), manifest["input"]))
    assert outputs[0][0] == outputs[1][0]
    assert outputs[0][1]["fingerprint"] == outputs[1][1]["fingerprint"]


def test_a_crashed_run_resumes_from_the_ranges_already_scored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data.parquet"
    write_groups(data, [100])
    job = write_job(tmp_path, data, input_extra=", shard_rows: 10")
    partial = LabelingJob(JobConfig.from_dict(_yaml(job)))
    for shard in partial.dataset.shards[:4]:  # a run that stopped after four shards
        partial.score_shard(shard)
    labeled_ok(job, capsys)
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["shards"] == {"total": 10, "reused": 4, "scored": 6}


def _yaml(job: Path) -> dict[str, Any]:
    import yaml

    loaded: dict[str, Any] = yaml.safe_load(job.read_text())
    return loaded


def _old_plan(groups: list[int], shard_rows: int) -> list[tuple[tuple[int, ...], int]]:
    """How shards were planned before issue 13: whole row groups, at least shard_rows each."""
    shards, group, rows = [], [], 0
    for rg, size in enumerate(groups):
        group.append(rg)
        rows += size
        if rows >= shard_rows:
            shards.append((tuple(group), rows))
            group, rows = [], 0
    if rows:
        shards.append((tuple(group), rows))
    return shards


GROUP_LAYOUTS = [
    ([100], 10),  # one huge group
    ([10] * 10, 10),  # a group per shard: as before
    ([7, 9, 4, 10, 3], 10),  # small groups gathered: as before
    ([19, 19, 5], 10),  # under twice shard_rows: kept whole, as before
    ([20], 10),  # exactly twice: two ranges
    ([3, 4, 95, 2, 1], 10),  # small groups around a huge one
    ([45, 1000], 16),  # uneven ranges
    ([0, 30, 0], 10),  # empty groups
]


@pytest.mark.parametrize(("groups", "shard_rows"), GROUP_LAYOUTS, ids=str)
def test_shard_plans_cover_every_row_once_in_order(
    groups: list[int], shard_rows: int, tmp_path: Path
) -> None:
    path = tmp_path / "data.parquet"
    texts = write_groups(path, groups)
    data = InputDataset(InputSpec(path=str(path), shard_rows=shard_rows, batch_rows=3))
    shards = data.shards
    assert [s.start_row for s in shards] == [
        0,
        *(sum(s.num_rows for s in shards[: i + 1]) for i in range(len(shards) - 1)),
    ]
    if max(groups) < 2 * shard_rows:
        # No group is split: exactly the shards (and so the cache keys) of before.
        assert [(s.row_groups, s.num_rows) for s in shards] == _old_plan(groups, shard_rows)
        assert all(s.group_offset is None for s in shards)
    for shard in shards:
        if shard.group_offset is not None:
            assert shard_rows <= shard.num_rows < 2 * shard_rows
    assert [t for s in shards for t in data.read_texts(s).texts] == texts
    # Batches are batch_rows long (the last of a shard shorter), whatever was read before.
    for shard in shards:
        sizes = [b.num_rows for b in data.iter_batches(shard)]
        assert sum(sizes) == shard.num_rows
        if shard.group_offset is not None:
            assert all(size == 3 for size in sizes[:-1])


def test_ranges_read_in_any_order_or_at_once_give_the_same_rows(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    write_groups(path, [500, 300])
    data = InputDataset(InputSpec(path=str(path), shard_rows=40, batch_rows=16))
    in_order = {s.index: _rows(data, s) for s in data.shards}
    assert len(in_order) == 12 + 7
    shuffled = sorted(data.shards, key=lambda s: (s.index * 7) % len(data.shards))
    assert {s.index: _rows(data, s) for s in shuffled} == in_order
    with ThreadPoolExecutor(4) as pool:
        threaded = dict(pool.map(lambda s: (s.index, _rows(data, s)), data.shards * 2))
    assert threaded == in_order


def _rows(data: InputDataset, shard: Shard) -> list[int]:
    return [n for b in data.iter_batches(shard, ["n"]) for n in b.column(0).to_pylist()]


@pytest.mark.parametrize("columns", [["text"], None])
def test_reading_ranges_in_order_costs_one_pass_over_the_group(
    columns: list[str] | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shards read in order continue one read of the group instead of starting it again."""
    path = tmp_path / "data.parquet"
    write_groups(path, [400])
    data = InputDataset(InputSpec(path=str(path), shard_rows=40))
    opened: list[Shard] = []
    scanner = data._scanner

    def counting(shard: Shard, cols: Any) -> Any:
        opened.append(shard)
        return scanner(shard, cols)

    monkeypatch.setattr(data, "_scanner", counting)
    for shard in data.shards:
        list(data.iter_batches(shard, columns))
    assert len(opened) == 1
    list(data.iter_batches(data.shards[3], columns))  # out of order: a read of its own
    assert len(opened) == 2


# -- a missing text column: the likely one ------------------------------------------------------


TICKETS = {
    "id": ["t-0001", "t-0002", "t-0003"],
    "body": ["I was charged twice this month", "Where is my parcel?", "Reset my password"],
    "created_at": ["2024-01-01T10:00", "2024-01-02T11:30", "2024-01-03T09:15"],
}


@pytest.mark.parametrize(
    ("columns", "text_column", "hint"),
    [
        # The string column with the longest mean length: the free text beside id and date.
        (TICKETS, "text", "; did you mean --text-column body / text_column: body?"),
        # A close name wins over length.
        ({**TICKETS, "Text": ["a", "b", "c"]}, "text", "; did you mean --text-column Text"),
        ({**TICKETS, "ticket_body": TICKETS["body"]}, "ticket_bdy", "--text-column ticket_body /"),
        # One string column: that one.
        ({"n": [1, 2, 3], "message": ["x", "y", "z"]}, "text", "--text-column message /"),
        # No string column: no guess.
        ({"n": [1, 2, 3], "score": [0.1, 0.2, 0.3]}, "text", ""),
    ],
)
def test_a_missing_text_column_suggests_the_likely_column(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    columns: dict[str, list[Any]],
    text_column: str,
    hint: str,
) -> None:
    data = tmp_path / "tickets.parquet"
    pq.write_table(pa.table(columns), data)
    message = refused(
        write_job(tmp_path, data, input_extra=f", text_column: {text_column}"), capsys
    )
    expected = f"text column {text_column!r} not found; columns are {', '.join(columns)}"
    assert message.startswith(f"{data}: {expected}")
    assert hint in message
    if not hint:
        assert "did you mean" not in message


def test_the_text_column_guess_skips_the_id_column(tmp_path: Path) -> None:
    from zslabel.input_schema import likely_text_column

    data = tmp_path / "t.parquet"
    long_ids = ["a-very-long-identifier-" + "x" * 80] * 3
    pq.write_table(pa.table({"key": long_ids, "body": TICKETS["body"]}), data)
    schema = pq.read_schema(data)
    assert likely_text_column(str(data), schema, "text") == "key"
    assert likely_text_column(str(data), schema, "text", exclude="key") == "body"


def test_a_missing_id_column_suggests_the_close_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A new-user trial: ``id_column: ticketid`` for a ``ticket_id`` column got no hint."""
    data = tmp_path / "tickets.parquet"
    columns = {"ticket_id": TICKETS["id"], "body": TICKETS["body"]}
    pq.write_table(pa.table(columns), data)
    job = write_job(tmp_path, data, input_extra=", text_column: body, id_column: ticketid")
    assert refused(job, capsys) == (
        f"{data}: id column 'ticketid' not found; columns are ticket_id, body; "
        "did you mean --id-column ticket_id / id_column: ticket_id?"
    )


def test_a_missing_id_column_suggests_the_one_column_named_for_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A new user's trial: ``id_column: id`` for a ``feedback_id`` column got no hint (the
    names are not close, but one column has ``id`` as a word of its name)."""
    data = tmp_path / "feedback.parquet"
    pq.write_table(pa.table({"feedback_id": TICKETS["id"], "body": TICKETS["body"]}), data)
    job = write_job(tmp_path, data, input_extra=", text_column: body, id_column: id")
    assert refused(job, capsys) == (
        f"{data}: id column 'id' not found; columns are feedback_id, body; "
        "did you mean --id-column feedback_id / id_column: feedback_id?"
    )
    # Two columns named for it: no guess.
    columns = {"order_id": TICKETS["id"], "user_id": TICKETS["id"], "body": TICKETS["body"]}
    pq.write_table(pa.table(columns), data)
    assert refused(job, capsys).endswith("columns are order_id, user_id, body")
