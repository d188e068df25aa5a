"""What a run publishes to Prefect: a markdown summary, a table per class, links to the outputs.

Keys are per job, ``zslabel-<name>-summary`` and so on, so that two jobs on one server keep their
own latest artifact instead of overwriting each other's. Prefect accepts only lowercase letters,
digits and dashes in a key (``prefect.types.names.ArtifactKey``); :func:`job_slug` makes any job
name fit.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zslabel.flows import environment

environment.configure()

from prefect import State  # noqa: E402 - settings must come first
from prefect.artifacts import (  # noqa: E402
    create_link_artifact,
    create_markdown_artifact,
    create_table_artifact,
)
from prefect.states import Failed  # noqa: E402

from zslabel.errors import DriftFailed  # noqa: E402
from zslabel.pipeline.drift import failure_message  # noqa: E402
from zslabel.pipeline.write import RunResult  # noqa: E402

# Long enough to tell jobs apart, short enough to read in the UI's artifact list.
MAX_SLUG_CHARS = 48
ARTIFACT_KINDS = ("summary", "classes", "progress", "outputs", "report", "drift", "student")


@dataclass(frozen=True)
class ArtifactKeys:
    """The keys of one job's artifacts."""

    summary: str
    classes: str
    progress: str
    outputs: str
    report: str
    drift: str
    student: str

    @classmethod
    def for_job(cls, slug: str) -> ArtifactKeys:
        return cls(*(f"zslabel-{slug}-{kind}" for kind in ARTIFACT_KINDS))


def job_slug(name: str) -> str:
    """``name`` (a job file's stem or an output folder's name) as a valid artifact key part.

    Accents are dropped (NFKD), letters lowercased, every other run of characters becomes one
    dash; at most 48 characters; ``job`` when nothing is left.
    """
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:MAX_SLUG_CHARS].rstrip("-") or "job"


def default_name(job_path: str | None, output_dir: str) -> str:
    """The job file's stem, or without a job file (the quick form) the output folder's name."""
    if job_path:
        return Path(job_path).stem
    return output_dir.rstrip("/").rsplit("/", 1)[-1]


def location_uri(location: str) -> str:
    """A link to ``location``: a URI as it is, a local path as an absolute ``file://`` URI."""
    if "://" in location:
        return location
    return Path(location).resolve().as_uri()


def publish(result: RunResult, summary: str, keys: ArtifactKeys) -> None:
    """Create the summary (markdown), classes (table) and output/report (link) artifacts."""
    counts = result.manifest["counts"]
    create_markdown_artifact(
        summary_markdown(result, summary),
        key=keys.summary,
        description="counts per status and class, thresholds, warnings, model, timings, outputs",
    )
    create_table_artifact(
        [{"label": name, **by_status} for name, by_status in counts["classes"].items()],
        key=keys.classes,
        description="accepted and abstained rows and mean confidence per predicted class",
    )
    output_dir = str(result.output_dir)
    create_link_artifact(
        location_uri(output_dir),
        link_text=output_dir,
        key=keys.outputs,
        description="the run's output folder",
    )
    if "report.html" in result.manifest.get("files", {}):
        create_link_artifact(
            location_uri(f"{output_dir.rstrip('/')}/report.html"),
            link_text="report.html",
            key=keys.report,
            description="the run's HTML report: per-class confidence, thresholds, examples",
        )


def end_state(outcome: dict[str, Any], failed: str | None) -> dict[str, Any] | State:
    """The flow's return: ``outcome``, or, where ``failed`` says a drift threshold of a job with
    ``on_drift: fail`` was crossed, a Failed state with that message carrying
    :class:`DriftFailed`. The version is written and recorded by then: the run ends Failed so
    that Prefect's notifications and automations can act, and the data is there to inspect.
    Returned, not raised: a traceback in the log would say the flow broke. Calling the flow
    raises the DriftFailed; ``return_state=True`` gives the state."""
    if failed is None:
        return outcome
    return Failed(message=failed, data=DriftFailed(failed, outcome))


def publish_drift(
    result: RunResult, keys: ArtifactKeys, logger: logging.Logger | logging.LoggerAdapter[Any]
) -> str | None:
    """Log the run's drift verdict (a warning per crossed threshold) and publish drift.json as
    the ``drift`` markdown artifact. Returns the reason the run must fail (``on_drift: fail``
    and a threshold crossed), else None."""
    drift = result.manifest.get("drift")
    if not drift:
        return None
    for crossed in drift["crossed"]:
        logger.warning("drift: %s %s (%s)", crossed["metric"], crossed["value"], crossed["reason"])
    logger.info("Drift against %s: %s", drift["baseline"] or "nothing", drift["message"])
    path = Path(result.output_dir) / drift["file"]
    create_markdown_artifact(
        drift_markdown(json.loads(path.read_text(encoding="utf-8"))),
        key=keys.drift,
        description="how this version differs from the previous one (drift.json)",
    )
    return failure_message(result.manifest)


def drift_markdown(record: dict[str, Any]) -> str:
    """A drift.json payload as markdown: the verdict, the metrics table, the new terms."""
    lines = [f"## zslabel drift: {'DRIFT' if record['drifted'] else 'ok'}", ""]
    lines += [_cell(record["message"]), ""]
    if record["first_version"]:
        return "\n".join([*lines, "This version is the baseline the next one is compared with."])
    lines += [f"Baseline: `{record['baseline']}` (relative to this version's folder)", ""]
    lines += ["| metric | value | threshold | status | why |", "|---|---:|---:|---|---|"]
    for metric in record["metrics"]:
        value, limit = metric["value"], metric["threshold"]
        status = f"**{metric['status']}**" if metric["status"] == "crossed" else metric["status"]
        lines.append(
            f"| {metric['metric']} | {'n/a' if value is None else f'{value:.4g}'} | "
            f"{'-' if limit is None else f'{limit:g}'} | {status} | {_cell(metric['reason'])} |"
        )
    terms = record.get("new_terms") or []
    if terms:
        shown = ", ".join(f"`{t['term']}` ({t['rows']} rows)" for t in terms[:10])
        lines += ["", f"New terms among abstained rows: {shown}"]
    return "\n".join(lines)


def summary_markdown(result: RunResult, summary: str) -> str:
    """The run summary as markdown: status, class and threshold tables, warnings, the rest.

    ``summary`` is :func:`zslabel.summary.format_run`'s text: its opening lines, warnings and the
    lines after the class table (sources, reviews, calibration, model, outputs) are kept; its
    status and class tables are rebuilt from the manifest as markdown tables.
    """
    manifest = result.manifest
    counts = manifest["counts"]
    blocks = summary.split("\n\n")
    tables = [i for i, block in enumerate(blocks) if _is_class_header(block)]
    if not tables or tables[0] < 2:  # not the layout this expects: keep the text whole
        intro, rest = [], blocks
    else:
        intro, rest = blocks[: tables[0] - 1], blocks[tables[0] + 1 :]
    lines = [f"## zslabel: {counts['rows']:,} rows labeled", ""]
    lines += [block.strip() + "\n" for block in intro]
    lines += ["### Rows by status", "", *_status_table(counts), ""]
    lines += ["### Classes", "", *_class_table(manifest), ""]
    lines += ["### Thresholds", "", *_threshold_table(manifest), ""]
    rest_lines = [line for block in rest for line in block.splitlines()]
    warnings = [line.strip()[len("warning:") :].strip() for line in rest_lines if _is_warning(line)]
    if warnings:
        lines += ["### Warnings", "", *(f"- {_cell(w)}" for w in warnings), ""]
    details: list[str] = []
    for block in rest:
        kept = [line for line in block.splitlines() if not _is_warning(line)]
        kept = [line for line in kept if not line.strip().startswith("thresholds:")]
        details += [*([""] if details else []), *kept]
    lines += _details(details)
    lines.append(f"Outputs: [{result.output_dir}]({location_uri(str(result.output_dir))})")
    return "\n".join(lines)


def _details(lines: list[str]) -> list[str]:
    """``key: value`` lines as a table; anything else (the per-source table) as text."""
    items = [match.groups() for line in lines if (match := _ITEM.match(line))]
    text = [line for line in lines if not _ITEM.match(line)]
    out = []
    if items:
        out += ["### Details", "", "| item | value |", "|---|---|"]
        out += [f"| {key} | {_cell(value)} |" for key, value in items]
        out.append("")
    if any(line.strip() for line in text):
        out += ["```", *text, "```", ""]
    return out


# A summary line such as "  splits: train 69, validation 9": a name, a colon, its value.
_ITEM = re.compile(r"^ {0,2}([a-z][\w .-]{0,40}): (.+)$")


def _is_class_header(block: str) -> bool:
    first = block.strip().splitlines()[0] if block.strip() else ""
    return first.split()[:3] == ["class", "accepted", "abstained"]


def _is_warning(line: str) -> bool:
    return line.strip().startswith("warning:")


def _status_table(counts: dict[str, Any]) -> list[str]:
    total = counts["rows"]
    reasons = {
        "accepted": counts.get("accepted_reasons") or {},
        "abstained": counts.get("abstain_reasons") or {},
        "invalid": counts.get("invalid_reasons") or {},
    }
    rows = ["| status | rows | share | reasons |", "|---|---:|---:|---|"]
    for status, n in counts["status"].items():
        why = ", ".join(f"{r} {c:,}" for r, c in reasons.get(status, {}).items())
        share = f"{100 * n / total:.1f} %" if total else "-"
        rows.append(f"| {status} | {n:,} | {share} | {_cell(why)} |")
    return rows


def _class_table(manifest: dict[str, Any]) -> list[str]:
    cutoffs = manifest["selection"].get("class_confidence_cutoffs") or {}
    rows = [
        "| class | accepted | abstained | mean confidence (accepted) | cutoff |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, by_status in manifest["counts"]["classes"].items():
        rows.append(
            f"| {_cell(name)} | {by_status['accepted']:,} | {by_status['abstained']:,} | "
            f"{_number(by_status.get('mean_confidence_accepted'))} | "
            f"{_number(cutoffs.get(name))} |"
        )
    return rows


def _threshold_table(manifest: dict[str, Any]) -> list[str]:
    selection = manifest["selection"]
    settings: dict[str, Any] = {"min_confidence": selection.get("min_confidence")}
    if manifest["config"].get("multi_label"):
        settings["threshold"] = selection.get("threshold")
        settings["per_class_threshold"] = selection.get("per_class_threshold") or None
    else:
        settings["per_class_top_fraction"] = selection.get("per_class_top_fraction")
    settings["min_margin"] = selection.get("min_margin")
    settings["per_class_min_confidence"] = selection.get("per_class_min_confidence") or None
    rows = ["| setting | value |", "|---|---|"]
    for key, value in settings.items():
        if value is not None or key == "min_confidence":
            rows.append(f"| {key} | {_cell(str(value))} |")
    return rows


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _cell(text: str) -> str:
    """Text that cannot break a markdown table row."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
