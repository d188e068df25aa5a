"""The run's look for passages many texts share (footers, disclaimers: :mod:`zslabel.passages`),
on a sample of valid texts spread over the shards: the manifest's ``input.repeated_passages`` and a
warning in the summary and the report."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zslabel.passages import describe, repeated_passages
from zslabel.pipeline.plan import JobPlan

# Texts read: a footer on a few percent of the rows shows in any 2,000 of them; reading them is
# a fraction of a second (the whole of AG News, 7,600 texts, takes 0.3 s).
SAMPLE_ROWS = 2000
SHOWN = 3  # passages the record lists


def passages_record(plan: JobPlan) -> dict[str, Any] | None:
    """``{"sample_rows", "rows", "text_share", "passages": [{"text", "rows"}], "warning"}``,
    or None when no sentence repeats enough (or the job reads no text column)."""
    if plan.config.input.text_column not in plan.columns:
        return None  # no source scores the text column (an image job): nothing to say of it
    found = repeated_passages(plan.dataset.sample_texts(SAMPLE_ROWS))
    warning = describe(found)
    if warning is None:
        return None
    return {
        "sample_rows": found.texts,
        "rows": found.rows,
        "text_share": round(found.text_share, 3),
        "passages": [{"text": text, "rows": n} for text, n in found.passages[:SHOWN]],
        "warning": warning,
    }


def passage_warnings(manifest: Mapping[str, Any]) -> list[str]:
    """The run's repeated-passage warning, if its manifest has one."""
    found = (manifest.get("input") or {}).get("repeated_passages") or {}
    return [str(found["warning"])] if found.get("warning") else []
