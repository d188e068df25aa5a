"""``zslabel check``: a job looked at on a sample before a long run (issue 14, item 4)."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from zslabel.cli import main
from zslabel.preview import sample_rows, top_labels

TOPICS = {
    "billing": ["my invoice shows a wrong charge", "I was billed twice this month",
                "the payment on my card failed"],
    "shipping": ["my parcel has not arrived", "the delivery is late again",
                 "the courier lost my package"],
    "refund": ["I want my money back", "please refund my order",
               "I returned the item and want a refund"],
}  # fmt: skip
# refund/refunds: nearly the same prompt; gardening: no ticket is about it.
JOB_LABELS = ["billing", "shipping", "refund", "refunds", "gardening"]
ROWS = 300


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def tickets(tmp_path: Path) -> Path:
    rng = random.Random(0)
    names = list(TOPICS)
    texts = [f"{rng.choice(TOPICS[names[i % 3]])} (ticket {i})" for i in range(ROWS)]
    path = tmp_path / "data" / "tickets.parquet"
    path.parent.mkdir()
    pq.write_table(pa.table({"text": texts}), path, row_group_size=100)
    return path


@pytest.fixture
def job(tickets: Path) -> Path:
    path = tickets.parent / "job.yaml"
    path.write_text(
        f"input: {{path: tickets.parquet, shard_rows: 100}}\nlabels: [{', '.join(JOB_LABELS)}]\n"
        "output: {dir: ../out}\n",
        encoding="utf-8",
    )
    return path


def listing(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*"))


def test_check_prints_prompts_similar_pairs_idle_labels_distribution_and_estimate(
    capsys: pytest.CaptureFixture[str], job: Path, tmp_path: Path
) -> None:
    before = listing(tmp_path)
    code, out, err = run(capsys, "check", str(job), "--sample", "120")
    assert code == 0, err
    assert listing(tmp_path) == before  # nothing written, no output folder
    assert not (tmp_path / "out").exists()
    assert "Checked 120 of 300 input rows" in out
    assert "Source 'embedding' (embedding)" in out
    assert "    gardening: This text is about gardening." in out
    flagged = re.search(r"refund ~ refunds: (\d\.\d+)  <- nearly the same", out)
    assert flagged is not None, out
    assert float(flagged.group(1)) >= 0.95
    # The closest pairs are listed, only the near-duplicate one flagged.
    assert len(re.findall(r"^    \w+ ~ \w+: \d\.\d{3}", out, flags=re.MULTILINE)) == 5
    assert out.count("<- nearly the same") == 1
    idle = re.search(r"Labels no sampled row prefers \(combined\): (.*)", out)
    assert idle is not None
    assert "gardening" in idle.group(1).split(", ")
    counts = dict(re.findall(r"^  (\w+) +(\d+) +[\d.]+ % +[\d.]+ %$", out, flags=re.MULTILINE))
    assert set(counts) == set(JOB_LABELS)
    assert sum(int(n) for n in counts.values()) == 120
    assert counts["gardening"] == "0"
    estimate = re.search(r"Estimated scoring time of the full run: ([\d.]+) (s|min|h)", out)
    assert estimate is not None
    assert float(estimate.group(1)) > 0
    assert "assumes no cached shards; no feature cache yet" in out


FOOTER = (
    "This e-mail and any attachments are confidential and may be privileged. If you are not "
    "the intended recipient please notify the sender immediately and delete it."
)


def test_check_names_a_footer_many_texts_share(
    capsys: pytest.CaptureFixture[str], job: Path, tickets: Path
) -> None:
    """A new user's trial: a confidentiality footer on 5 % of the e-mails became a label's
    prototype after refinement. ``check`` names it before the run; without it, says nothing."""
    code, out, _ = run(capsys, "check", str(job), "--sample", "100")
    assert code == 0
    assert "Repeated passages" not in out
    texts = pq.read_table(tickets).column("text").to_pylist()
    footed = [f"{t}\n\n-- \n{FOOTER}" if i % 10 == 0 else t for i, t in enumerate(texts)]
    pq.write_table(pa.table({"text": footed}), tickets, row_group_size=100)
    code, out, _ = run(capsys, "check", str(job), "--sample", "300")
    assert code == 0
    line = re.search(r"Repeated passages: (\d+) of 300 sampled texts share sentences such as "
                     r"'If you are not the intended recipient please notify the sender imme\.\.\.' "
                     r"\((\d+) texts\) and 1 other repeated sentence\(s\), (\d+) % of their text",
                     out)  # fmt: skip
    assert line is not None, out
    assert line.group(1) == line.group(2) == "30"
    assert 60 < int(line.group(3)) < 90


def test_check_json_parses_and_adds_up(
    capsys: pytest.CaptureFixture[str], job: Path, tmp_path: Path
) -> None:
    code, out, err = run(capsys, "check", str(job), "--sample", "60", "--json")
    assert code == 0, err
    found = json.loads(out)
    assert found["input_rows"] == ROWS
    assert found["sample_rows"] == 60
    assert found["shards"] == 3
    assert sum(found["distribution"].values()) == 60
    assert found["distribution"]["(not scored)"] == 0
    assert abs(sum(found["shares"].values()) - 1.0) < 1e-3
    assert set(found["estimated_shares"]) == set(JOB_LABELS)
    assert abs(sum(found["estimated_shares"].values()) - 1.0) < 1e-3
    assert "gardening" in found["unpreferred"]
    (source,) = found["sources"]
    assert source["prompts"]["refund"] == ["This text is about refund."]
    assert source["closest_pairs"][0]["labels"] == ["refund", "refunds"]
    assert source["closest_pairs"][0]["similar"] is True
    assert not any(pair["similar"] for pair in source["closest_pairs"][1:])
    assert sum(source["top_label_counts"].values()) == 60
    assert "gardening" in source["unpreferred"]
    # Refinement's stray test on the sample: gardening has no rows to judge; none is stray.
    assert source["stray"] == []
    assert source["rows_per_s"] > 0
    assert found["estimate_s"] > 0
    assert found["cached_shards"] is None
    assert not (tmp_path / "out").exists()


def test_quick_form_needs_no_output_folder(
    capsys: pytest.CaptureFixture[str], tickets: Path, tmp_path: Path
) -> None:
    before = listing(tmp_path)
    code, out, err = run(capsys, "check", str(tickets), "--labels", "billing,shipping,gardening",
                         "--sample", "30", "--json")  # fmt: skip
    assert code == 0, err
    found = json.loads(out)
    assert found["labels"] == ["billing", "shipping", "gardening"]
    assert found["sample_rows"] == 30
    assert listing(tmp_path) == before


def test_cached_shards_of_an_earlier_run_are_counted(
    capsys: pytest.CaptureFixture[str], tickets: Path, tmp_path: Path
) -> None:
    # The fake source: no model, so a real run is quick.
    job = tickets.parent / "fake.yaml"
    job.write_text(
        "input: {path: tickets.parquet, shard_rows: 100}\nlabels: [billing, shipping, refund]\n"
        "sources: [{kind: fake}]\noutput: {dir: ../fake-out}\n",
        encoding="utf-8",
    )
    code, out, err = run(capsys, "check", str(job), "--sample", "10", "--json")
    assert code == 0, err
    assert json.loads(out)["cached_shards"] is None
    assert run(capsys, "label", str(job), "--no-progress")[0] == 0
    before = listing(tmp_path)
    code, out, err = run(capsys, "check", str(job), "--sample", "10")
    assert code == 0, err
    assert "3 of 3 shard(s) already cached" in out
    assert listing(tmp_path) == before


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--labels", "refund,Refund"], "give the model the same prompt"),
        (["--labels", "billing,shipping", "--sample", "0"], "--sample 0"),
        (["--labels", "billing"], "labels"),
    ],
)
def test_a_bad_job_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str],
    tickets: Path,
    tmp_path: Path,
    argv: list[str],
    message: str,
) -> None:
    code, out, err = run(capsys, "check", str(tickets), *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("zslabel: error: ")
    assert message in err


def test_a_missing_job_file_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "check", str(tmp_path / "nope.yaml"))
    assert code == 2
    assert err.count("\n") == 1


def test_sample_rows_are_spread_evenly_and_deterministic() -> None:
    rows = sample_rows(1000, 10)
    assert rows.tolist() == sample_rows(1000, 10).tolist()
    assert (rows // 100).tolist() == list(range(10))  # one row in each tenth
    # No aliasing with inputs written round-robin by class (a stride of 1.5 skips a third).
    assert set((sample_rows(300, 200) % 3).tolist()) == {0, 1, 2}
    assert len(set(sample_rows(301, 300).tolist())) == 300
    assert sample_rows(5, 500).tolist() == [0, 1, 2, 3, 4]


def test_top_labels_skip_rows_without_scores() -> None:
    probs = np.asarray([[0.2, 0.8], [np.nan, np.nan], [0.5, 0.5], [np.nan, 0.3]])
    assert top_labels(probs).tolist() == [1, -1, 0, 1]


def test_check_names_labels_that_differ_only_in_letter_case(
    capsys: pytest.CaptureFixture[str], job: Path
) -> None:
    """A trial's YAML slip: `Refund: money back` beside `refund: a refund for a return`. Their
    prompts differ, so nothing else flags them (here: `Billing` beside `billing`)."""
    labels = ", ".join(f"{name}: {name}" for name in JOB_LABELS)
    job.write_text(
        "input: {path: tickets.parquet, shard_rows: 100}\n"
        f'labels: {{Billing: "an invoice or a charge", {labels}}}\n'
        "output: {dir: ../out}\n",
        encoding="utf-8",
    )
    code, out, err = run(capsys, "check", str(job), "--sample", "30")
    assert code == 0, err
    assert "Labels that differ only in letter case: 'Billing' / 'billing'; merge them" in out
