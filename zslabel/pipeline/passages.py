"""The run's look for repeated text (:mod:`zslabel.passages`) on a sample of valid texts spread
over the shards: passages many texts share (footers, disclaimers) and texts that are copies of
one another, as the manifest's ``input.repeated_passages`` and ``input.repeated_texts`` and a
warning each in the summary and the report."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zslabel.input_schema import mean_lengths, string_columns
from zslabel.passages import RepeatedPassages, describe, describe_copies, repeated_passages
from zslabel.pipeline.plan import JobPlan

# Texts read: a footer on a few percent of the rows shows in any 2,000 of them; reading them is
# a fraction of a second (the whole of AG News, 7,600 texts, takes 0.3 s).
SAMPLE_ROWS = 2000
SHOWN = 3  # passages and repeated texts each record lists
# Distinct texts under this share of the sample: a category more than free text.
CATEGORICAL_SHARE = 0.05
RECORDS = ("repeated_passages", "repeated_texts")


def repetition_records(plan: JobPlan) -> dict[str, Any]:
    """The manifest's ``input`` keys for what repeats, only those found (so that other
    manifests keep their bytes): ``repeated_passages``: ``{"sample_rows", "distinct_texts",
    "rows", "text_share", "passages": [{"text", "rows"}], "warning"}`` (``rows``: distinct
    texts holding a passage); ``repeated_texts``:
    ``{"sample_rows", "rows", "distinct", "texts": [{"text", "rows"}], "warning"}``. Empty for
    a job that reads no text column (an image job)."""
    if plan.config.input.text_column not in plan.columns:
        return {}
    sample = plan.dataset.sample_texts(SAMPLE_ROWS)
    found = repeated_passages(sample)
    sampled = len(sample) >= SAMPLE_ROWS  # fewer: every valid text was read
    records: dict[str, Any] = {}
    if warning := describe(found, sampled=sampled):
        records["repeated_passages"] = {
            "sample_rows": found.sampled,
            "distinct_texts": found.texts,
            "rows": found.rows,
            "text_share": round(found.text_share, 3),
            "passages": [{"text": text, "rows": n} for text, n in found.passages[:SHOWN]],
            "warning": warning,
        }
    if warning := describe_copies(found, sampled=sampled):
        warning += _other_text_column(plan, found)
        records["repeated_texts"] = {
            "sample_rows": found.sampled,
            "rows": found.copies,
            "distinct": len(found.copied),
            "texts": [{"text": text, "rows": n} for text, n in found.copied[:SHOWN]],
            "warning": warning,
        }
    return records


def _other_text_column(plan: JobPlan, found: RepeatedPassages) -> str:
    """Where the text column holds a few values over and over (a trial's channel column
    ``text``: 4 values in 995 rows, labeled at 0.99 while ``body`` held the messages): the
    input's text column of longer mean length that it may have meant, as a hint; else ""."""
    if found.texts > CATEGORICAL_SHARE * found.sampled:
        return ""
    column, id_column = plan.config.input.text_column, plan.config.input.id_column
    others = [
        name
        for name in string_columns(plan.dataset.schema)
        if name not in (column, id_column) and name in plan.dataset.column_names
    ]
    lengths = mean_lengths(plan.config.input.path, [column, *others]) if others else {}
    longer = [name for name in others if lengths.get(name, 0) > 2 * lengths.get(column, 0)]
    if not longer:
        return ""
    best = max(longer, key=lambda name: lengths[name])
    return (
        f"; the text column {column!r} holds {found.texts:,} distinct values in "
        f"{found.sampled:,} texts, like a category: is {best!r} the text to label "
        f"(input.text_column / --text-column {best})?"
    )


def passage_warnings(manifest: Mapping[str, Any]) -> list[str]:
    """The run's repeated-passage and repeated-text warnings, where its manifest has them."""
    found = manifest.get("input") or {}
    return [str(found[key]["warning"]) for key in RECORDS if (found.get(key) or {}).get("warning")]
