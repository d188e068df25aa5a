"""Manifest: what a run did, assembled from the stage records (scoring, refinement, combining,
selection, splits, export) and the job's plan."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from zslabel.changes import compare
from zslabel.export import MANIFEST
from zslabel.pipeline.decisions import Selected
from zslabel.pipeline.passages import repetition_records
from zslabel.pipeline.plan import JobPlan
from zslabel.pipeline.score import ScoringRecord
from zslabel.pipeline.write import ExportRecord
from zslabel.redact import redact_value
from zslabel.selection import ABSTAINED, ACCEPTED, REASON_NAMES, STATUS_NAMES, Selection
from zslabel.version import __version__

# A class with fewer accepted rows gets a warning: with the default 10 % test split it has no
# test row on average, and a student sees too few examples of it.
FEW_ACCEPTED_ROWS = 10
# A class whose accepted rows' mean confidence is less than this share of the way from chance
# to 1 gets a warning. Measured with the default selection on AG News, SST-2 and BANKING77 and
# their Zipf-imbalanced variants: the classes below it had accepted accuracy 0.42 (BANKING77,
# 3 classes) against 0.85 for the others (docs/label-quality.md, "Confidence floor").
LOW_MEAN_ABOVE_CHANCE = 0.75


def assemble_manifest(
    plan: JobPlan,
    scoring: ScoringRecord,
    selected: Selected,
    exported: ExportRecord,
    language: dict[str, Any] | None = None,
    reused_ids: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest as a JSON-ready dict, redacted as a whole: paths with credentials appear
    in the config, the calibration record and the sources, and the card and report are
    rendered from it.

    Where the output folder holds a manifest from an earlier run, ``changes`` records what this
    run changes against it (:func:`zslabel.changes.compare`); the key is left out when nothing
    compared changed, so that a rerun writes the same bytes.
    """
    config = plan.config
    refinement = selected.refinement
    abstain_reasons, accept_reasons = _reason_counts(selected.selection)
    described: dict[str, Any] = redact_value(
        {
            "zslabel_version": __version__,
            "input": _input_record(plan, scoring),
            "labels": [label.model_dump(mode="json") for label in config.labels],
            # Provenance, and what later stages counted (per-language templates' rows).
            "sources": [
                {
                    **source.provenance(),
                    **(refinement.sources.get(source.name, {}) if refinement else {}),
                }
                for source in plan.sources
            ],
            # Only when most texts are in a language a model does not cover (pipeline.language).
            **({"language": language} if language else {}),
            # Only for an incremental version with ids earlier versions labeled (pipeline.ids).
            **({"reused_ids": reused_ids} if reused_ids else {}),
            # Only for jobs that ask for it, so that other manifests keep their bytes.
            **({"refinement": refinement.record} if refinement and refinement.record else {}),
            "combine": selected.combiner.describe(),
            "source_diagnostics": selected.diagnostics,
            "selection": {
                **config.selection.model_dump(mode="json"),
                "class_confidence_cutoffs": selected.selection.class_cutoffs,
                "class_rule_cutoffs": selected.selection.class_rule_cutoffs,
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
    described["selection"]["class_warnings"] = class_warnings(
        described["counts"]["classes"], len(plan.label_names), bool(config.multi_label)
    )
    changes = previous_changes(plan, described)
    if changes:
        described["changes"] = changes
    return described


def _input_record(plan: JobPlan, scoring: ScoringRecord) -> dict[str, Any]:
    """What was read: the path, columns, rows, shards and the texts' fingerprint; for a run over
    some of the input's files (an incremental version), which."""
    files = plan.dataset.selected_files
    return {
        "path": plan.config.input.path,
        "columns": plan.dataset.column_names,
        "rows": plan.dataset.num_rows,
        "shards": scoring.shards,
        "fingerprint": scoring.fingerprint,
        **({"files": files} if files is not None else {}),
        **repetition_records(plan),
    }


def previous_changes(plan: JobPlan, described: dict[str, Any]) -> dict[str, Any]:
    """What ``described`` changes against the manifest already in the output folder (read
    before this run's outputs are committed); ``{"unreadable": reason}`` when that file is
    not a JSON object; empty without one or without a change."""
    path = plan.output_dir / MANIFEST
    try:
        previous = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return {"unreadable": f"{path}: {exc}"}
    if not isinstance(previous, dict):
        return {"unreadable": f"{path}: not a JSON object"}
    return compare(previous, described)


def class_warnings(
    classes: dict[str, dict[str, Any]], labels: int, multi_label: bool
) -> dict[str, list[str]]:
    """Per class, what makes its accepted rows weak (classes without a warning left out):
    fewer than ``FEW_ACCEPTED_ROWS`` accepted rows, or (single-label) a mean accepted
    confidence less than ``LOW_MEAN_ABOVE_CHANCE`` of the way from chance (1/k) to 1."""
    chance = 1.0 / max(labels, 1)
    low_mean = chance + LOW_MEAN_ABOVE_CHANCE * (1.0 - chance)
    warnings: dict[str, list[str]] = {}
    for name, counted in classes.items():
        found = []
        accepted, mean = counted["accepted"], counted["mean_confidence_accepted"]
        if accepted == 0:
            found.append(
                "no accepted row: is any text about it? (remove the label, or describe it in "
                "the words its texts use)"
            )
        elif accepted < FEW_ACCEPTED_ROWS:
            found.append(
                f"only {accepted} accepted row(s) (fewer than {FEW_ACCEPTED_ROWS}: too few "
                "to train or evaluate this class)"
            )
        if not multi_label and mean is not None and mean < low_mean:
            found.append(
                f"low mean confidence {mean:.3f} (below {low_mean:.3f}, "
                f"{LOW_MEAN_ABOVE_CHANCE:g} of the way from chance {chance:.3f} to 1)"
            )
        if found:
            warnings[name] = found
    return warnings


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
