"""The dataset card: ``README.md`` of an output folder, written from its manifest.

The YAML header follows the Hugging Face dataset-card metadata (``configs`` maps each split to
its file), so the folder can be pushed to the Hub as it is and loads with
``datasets.load_dataset``. The card is a pure function of the manifest: no clock, no run id, so
a rerun writes the same bytes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

import yaml

from zslabel.input_name import input_named

__all__ = ["render_card"]

# The Hub's size buckets, by number of rows.
SIZE_CATEGORIES = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
)
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|#~])")
HIDDEN_SOURCE_KEYS = {"name", "kind", "model", "weight"}


def md(text: object) -> str:
    """User text (label names, descriptions, paths) made inert in Markdown and table cells."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def render_card(manifest: Mapping[str, Any]) -> str:
    config = manifest["config"]
    counts = manifest["counts"]
    name = PurePath(str(config["output"]["dir"])).name or "dataset"
    status = counts["status"]
    total = int(counts["rows"])
    sections = [
        _front_matter(manifest, name),
        f"# {md(name)}\n",
        f"Text classification data labeled by zero-shot models with zslabel "
        f"{md(manifest.get('zslabel_version', ''))}, without hand labels: {total:,} rows of "
        f"`{_code(input_named(manifest['input']))}` "
        f"(column `{_code(config['input']['text_column'])}`) "
        f"sorted into {len(manifest['labels'])} classes. {status.get('accepted', 0):,} rows "
        f"({_pct(status.get('accepted', 0), total)}) were confident enough to be accepted and "
        f"split into {', '.join(md(s) for s in _splits(manifest))}; "
        f"{status.get('abstained', 0):,} were set aside for review and "
        f"{status.get('invalid', 0):,} had no usable text. See `report.html` for the figures.\n",
        _labels(manifest),
        _how_made(manifest),
        _files(manifest),
        _columns(),
        _intended_use(),
        _limits(manifest),
    ]
    return "\n".join(sections)


def _code(text: object) -> str:
    return str(text).replace("`", "'")


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "-"


def _front_matter(manifest: Mapping[str, Any], name: str) -> str:
    accepted = int(manifest["counts"]["status"].get("accepted", 0))
    size = next((tag for limit, tag in SIZE_CATEGORIES if accepted < limit), "n>1B")
    fmt = manifest["config"]["output"]["format"]
    header: dict[str, Any] = {
        "pretty_name": name,
        "task_categories": ["text-classification"],
        "annotations_creators": ["machine-generated"],
        "size_categories": [size],
        "tags": ["zslabel", "zero-shot", "weak-supervision"],
    }
    # Only splits with rows: datasets.load_dataset(OUT) fails on a split with no data ("corresponds
    # to no data"), and a card without files would fail the same way.
    filled = [s for s in _splits(manifest) if manifest["counts"]["splits"].get(s, 0) > 0]
    if filled:
        header["configs"] = [
            {
                "config_name": "default",
                "data_files": [{"split": split, "path": f"{split}.{fmt}"} for split in filled],
            }
        ]
    dumped = yaml.safe_dump(header, sort_keys=False, allow_unicode=True, width=100)
    return f"---\n{dumped}---\n"


def _splits(manifest: Mapping[str, Any]) -> list[str]:
    """Split names, largest first (the manifest stores them with sorted keys)."""
    fractions = manifest["config"]["output"]["splits"]
    return sorted(fractions, key=lambda name: (-fractions[name], name))


def _labels(manifest: Mapping[str, Any]) -> str:
    classes = manifest["counts"]["classes"]
    lines = [
        "## Labels\n",
        "| label | described to the models as | accepted | abstained | mean confidence |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for label in manifest["labels"]:
        stats = classes.get(label["name"], {})
        described = "; ".join(md(d) for d in label.get("descriptions", ()))
        if label.get("examples"):
            described += f" (+{len(label['examples'])} example text(s))"
        mean = stats.get("mean_confidence_accepted")
        lines.append(
            f"| {md(label['name'])} | {described} | {stats.get('accepted', 0):,} | "
            f"{stats.get('abstained', 0):,} | {'-' if mean is None else f'{mean:.3f}'} |"
        )
    return "\n".join(lines) + "\n"


def _how_made(manifest: Mapping[str, Any]) -> str:
    config = manifest["config"]
    counts = manifest["counts"]
    selection = manifest.get("selection", {})
    lines = ["## How it was made\n", "Sources (each scores every row; zslabel combines them):\n"]
    for source in manifest["sources"]:
        model = source.get("model")
        if isinstance(model, Mapping):
            model_text = f", model `{_code(model.get('name', ''))}`"
            if model.get("revision"):
                model_text += f" at revision `{_code(model['revision'])}`"
            if model.get("sha256"):
                model_text += f" (weights sha256 `{_code(str(model['sha256'])[:16])}...`)"
        elif model:
            model_text = f", model `{_code(model)}`"
        else:
            model_text = ""
        settings = ", ".join(
            f"{md(k)} `{_code(v)}`"
            for k, v in source.items()
            if k not in HIDDEN_SOURCE_KEYS and not isinstance(v, Mapping | list)
        )
        lines.append(
            f"- **{md(source.get('name', ''))}** ({md(source.get('kind', ''))}{model_text})"
            + (f": {settings}" if settings else "")
        )
    combine = manifest.get("combine", {})
    lines.append(f"\nCombined by `{_code(combine.get('method', ''))}`.")
    calibration = combine.get("calibration")
    if isinstance(calibration, Mapping):
        temps = ", ".join(
            f"{md(n)} {e['temperature']}"
            for n, e in sorted(calibration.items())
            if isinstance(e, Mapping) and "temperature" in e
        )
        origin = f"`{_code(calibration['gold'])}`" if calibration.get("gold") else "no gold file"
        reviews = calibration.get("reviews")
        origin += f" and {reviews:,} human review(s)" if reviews else ""
        lines.append(
            f"Calibrated by temperature scaling on {calibration.get('rows', 0):,} gold rows "
            f"({origin}); temperatures: {temps or '-'}."
        )
    thresholds = ", ".join(
        f"{md(k)} {v}"
        for k, v in selection.items()
        if k != "class_confidence_cutoffs" and not isinstance(v, Mapping | list)
    )
    cutoffs = ", ".join(
        f"{md(k)} {'-' if v is None else f'{v:.3f}'}"
        for k, v in selection.get("class_confidence_cutoffs", {}).items()
    )
    lines.append(f"\nSelection: {thresholds}. Confidence at which each class was cut: {cutoffs}.")
    reviewed = counts.get("accepted_reasons", {}).get("human_review", 0)
    if reviewed:
        lines.append(
            f"\n{reviewed:,} row(s) carry a human label from a review (`zs_reason` "
            "`human_review`, confidence 1.0) instead of the models' label."
        )
    output = config["output"]
    splits = ", ".join(f"{md(k)} {counts['splits'].get(k, 0):,}" for k in _splits(manifest))
    fractions = ", ".join(f"{md(k)} {output['splits'][k]}" for k in _splits(manifest))
    lines.append(
        f"\nSplits (stratified by label, seed {output['seed']}; fractions {fractions}): {splits}."
    )
    lines.append(
        f"\nInput fingerprint `{_code(manifest['input'].get('fingerprint', ''))}`; the full "
        "configuration is in `manifest.json`."
    )
    return "\n".join(lines) + "\n"


def _files(manifest: Mapping[str, Any]) -> str:
    lines = ["## Files\n", "| file | rows | sha256 |", "| --- | ---: | --- |"]
    for name, entry in sorted(manifest.get("files", {}).items()):
        rows = entry.get("rows")
        digest = entry.get("sha256")
        lines.append(
            f"| {md(name)} | {'-' if rows is None else f'{rows:,}'} | "
            f"{'-' if digest is None else f'`{digest[:16]}...`'} |"
        )
    lines.append(
        "\n`labeled.parquet` holds every input row once, `abstained.parquet` the rows set "
        "aside, `review.*` those rows and the ones whose sources disagree, most useful first "
        "(`zs_priority`: smallest margin, classes with few accepted rows promoted), ready to "
        "import into Label Studio or Argilla; `report.html` shows the figures, and "
        "`manifest.json` lists every file with its hash, this card included."
        + (
            " `prototypes.parquet` is refinement's state (per source and label, the rows its "
            "prototype is the mean of), not data to train on."
            if "prototypes.parquet" in manifest.get("files", {})
            else ""
        )
    )
    review = manifest.get("files", {}).get("review.argilla.jsonl") or {}
    if review.get("left_out"):
        lines.append(
            f"\nThe review files hold {review['rows']:,} of {review['candidates']:,} rows, the "
            f"most useful (`review.limit` {review['limit']}); {review['left_out']:,} are left out."
        )
    return "\n".join(lines) + "\n"


def _columns() -> str:
    return (
        "## Columns\n\n"
        "Every input column, then: `zs_row` (row number in the input), `zs_label` (predicted "
        "label), `zs_confidence` (its combined probability), `zs_margin` (lead over the "
        "runner-up), `zs_status` (accepted, abstained or invalid), `zs_reason` (why a row was "
        "abstained or invalid, or `human_review`), `zs_split`, `zs_score_<label>` (every "
        "label's probability) and, with several sources, `zs_source_<name>_label` / "
        "`_confidence` (each source's own verdict).\n"
    )


def _intended_use() -> str:
    return (
        "## Intended use\n\n"
        "A starting point for a classifier in a domain without labeled data: train on `train`, "
        "tune on `validation`, and estimate quality on `test` only after checking a sample by "
        "hand (its labels come from the same models, so it measures agreement with them, not "
        "accuracy). Review the abstained and disagreeing rows to grow a gold set.\n"
    )


def _limits(manifest: Mapping[str, Any]) -> str:
    lines = [
        "## Known limits\n",
        "- Labels are model predictions, not human judgements: expect label noise even among "
        "accepted rows, and errors that repeat the models' biases.",
        "- Accepted rows are the confident ones, so they over-represent easy, typical texts; "
        "a model trained on them may do worse on the hard cases left in `abstained`.",
        "- Class balance follows the selection (a top fraction per class), not the true class "
        "frequencies of the input.",
        "- Confidences are calibrated only if a gold file or reviews were given, and then on "
        "few rows: read them as rankings more than as probabilities.",
    ]
    if len(manifest["sources"]) > 1:
        lines.append(
            "- Several sources are combined; sources that share a model or prompt make "
            "correlated errors that agreement between them does not reveal."
        )
    return "\n".join(lines) + "\n"
