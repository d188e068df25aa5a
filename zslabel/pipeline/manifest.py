"""Manifest: what a run did, assembled from the stage records (scoring, refinement, combining,
selection, splits, export) and the job's plan."""

from __future__ import annotations

from typing import Any

import numpy as np

from zslabel.pipeline.decisions import Selected
from zslabel.pipeline.plan import JobPlan
from zslabel.pipeline.score import ScoringRecord
from zslabel.pipeline.write import ExportRecord
from zslabel.redact import redact_value
from zslabel.selection import ABSTAINED, ACCEPTED, REASON_NAMES, STATUS_NAMES, Selection
from zslabel.version import __version__


def assemble_manifest(
    plan: JobPlan,
    scoring: ScoringRecord,
    selected: Selected,
    exported: ExportRecord,
    language: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest as a JSON-ready dict, redacted as a whole: paths with credentials appear
    in the config, the calibration record and the sources, and the card and report are
    rendered from it."""
    config = plan.config
    refinement = selected.refinement
    abstain_reasons, accept_reasons = _reason_counts(selected.selection)
    described: dict[str, Any] = redact_value(
        {
            "zslabel_version": __version__,
            "input": {
                "path": config.input.path,
                "columns": plan.dataset.column_names,
                "rows": plan.dataset.num_rows,
                "shards": scoring.shards,
                "fingerprint": scoring.fingerprint,
            },
            "labels": [label.model_dump(mode="json") for label in config.labels],
            "sources": [source.provenance() for source in plan.sources],
            # Only when most texts are in a language a model does not cover (pipeline.language).
            **({"language": language} if language else {}),
            # Only for jobs that ask for it, so that other manifests keep their bytes.
            **({"refinement": refinement.record} if refinement and refinement.record else {}),
            "combine": selected.combiner.describe(),
            "source_diagnostics": selected.diagnostics,
            "selection": {
                **config.selection.model_dump(mode="json"),
                "class_confidence_cutoffs": selected.selection.class_cutoffs,
            },
            "counts": {
                "rows": plan.dataset.num_rows,
                "status": {
                    name: int(np.sum(selected.selection.status == code))
                    for code, name in enumerate(STATUS_NAMES)
                },
                "classes": _class_counts(plan, selected, exported),
                "invalid_reasons": exported.invalid_reasons,
                "truncated_texts": scoring.truncated_texts,
                "abstain_reasons": abstain_reasons,
                "accepted_reasons": accept_reasons,
                # Stored reviews: applied, of invalid rows, of no row of the input.
                **({"reviews": selected.reviews} if selected.reviews else {}),
                "splits": {
                    name: int(np.sum(selected.split_index == k))
                    for k, name in enumerate(config.output.splits)
                },
            },
            "files": exported.files,
            "config": config.model_dump(mode="json"),
        }
    )
    return described


def _class_counts(
    plan: JobPlan, selected: Selected, exported: ExportRecord
) -> dict[str, dict[str, Any]]:
    """Per class: its accepted and abstained rows, and its accepted rows' mean confidence."""
    predictions, status = selected.predictions, selected.selection.status
    classes = {}
    for k, name in enumerate(plan.label_names):
        predicted = (
            predictions.label == k if predictions.assigned is None else predictions.assigned[:, k]
        )
        mean = exported.mean_confidence_accepted[k]
        classes[name] = {
            "accepted": int((predicted & (status == ACCEPTED)).sum()),
            "abstained": int(np.sum(predicted & (status == ABSTAINED))),
            "mean_confidence_accepted": None if mean is None else round(mean, 4),
        }
    return classes


def _reason_counts(selection: Selection) -> tuple[dict[str, int], dict[str, int]]:
    """Abstained and accepted rows by reason (an accepted row may have one: human_review).

    Counted by code, one reason at a time: a Python pair per row grew with the input.
    """
    abstain_reasons: dict[str, int] = {}
    accept_reasons: dict[str, int] = {}
    for code, why in enumerate(REASON_NAMES):
        if why is None:
            continue
        has_reason = selection.reason_code == code
        for status, counted in ((ABSTAINED, abstain_reasons), (ACCEPTED, accept_reasons)):
            n = int(np.count_nonzero(has_reason & (selection.status == status)))
            if n:
                counted[why] = n
    return dict(sorted(abstain_reasons.items())), dict(sorted(accept_reasons.items()))
