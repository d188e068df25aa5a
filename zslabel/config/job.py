"""The whole job: :class:`JobConfig` gathers the sections and runs the checks that span them
(settings naming known labels and sources, combining and selection fitting the label mode).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator, model_validator

from zslabel.config.base import StrictModel
from zslabel.config.describe import describe_validation_error
from zslabel.config.drift import DriftSpec
from zslabel.config.io import InputSpec, OutputSpec
from zslabel.config.labels import Label, SettingError, label_items
from zslabel.config.review import ReviewSpec
from zslabel.config.runner import RunnerSpec
from zslabel.config.selection import CalibrationSpec, CombineSpec, SelectionSpec
from zslabel.config.sources import EmbeddingSourceSpec, RulesSourceSpec, SourceSpec
from zslabel.config.student import StudentSpec
from zslabel.errors import ConfigError
from zslabel.labelnames import describe_mismatch


class JobConfig(StrictModel):
    """A whole labeling job. Build it with :func:`load_job` or :meth:`from_dict`."""

    input: InputSpec
    labels: tuple[Label, ...]
    # Each row may have any number of the labels: independent per-label probabilities and
    # thresholds, and a list column of assigned labels.
    multi_label: bool = False
    sources: Annotated[tuple[SourceSpec, ...], Field(validate_default=True)] = (
        EmbeddingSourceSpec(),
    )
    combine: CombineSpec = CombineSpec()
    calibration: CalibrationSpec | None = None
    selection: SelectionSpec = SelectionSpec()
    review: ReviewSpec = ReviewSpec()
    output: OutputSpec
    runner: RunnerSpec = RunnerSpec()
    # Label only input files that no earlier run of this job labeled, into a new version folder.
    incremental: bool = False
    # A student model trained on the labeled output (zslabel train), optionally self-trained.
    student: StudentSpec | None = None
    # How far a version may drift from the last before a scheduled run warns or fails.
    drift: DriftSpec = DriftSpec()

    @field_validator("labels", mode="before")
    @classmethod
    def _normalise_labels(cls, raw: Any) -> list[dict[str, Any]]:
        return [{"name": n, **described} for n, described in label_items(raw)]

    @field_validator("sources")
    @classmethod
    def _sources_named_uniquely(cls, sources: tuple[Any, ...]) -> tuple[Any, ...]:
        if not sources:
            raise ValueError("at least one source is needed")
        # Unnamed sources are named after their kind, numbered where one kind appears twice.
        kinds = Counter(s.kind for s in sources if not s.name)
        seen: Counter[str] = Counter()
        named = []
        for source in sources:
            if not source.name:
                name = (
                    f"{source.kind}_{seen[source.kind]}" if kinds[source.kind] > 1 else source.kind
                )
                seen[source.kind] += 1
                source = source.model_copy(update={"name": name})
            named.append(source)
        names = [s.name for s in named]
        if len(set(names)) != len(names):
            raise ValueError(f"source names must be unique, got {names}")
        return tuple(named)

    @model_validator(mode="after")
    def _settings_name_known_labels(self) -> JobConfig:
        named: dict[tuple[str | int, ...], set[str]] = {
            ("selection", "per_class_min_confidence"): set(self.selection.per_class_min_confidence),
            ("selection", "per_class_threshold"): set(self.selection.per_class_threshold),
        }
        for i, source in enumerate(self.sources):
            if isinstance(source, RulesSourceSpec):
                named[("sources", i, "rules")] = set(source.rules)
        for where, labels in named.items():
            unknown = sorted(labels - set(self.label_names))
            if unknown:
                hints = [describe_mismatch(name, self.label_names) for name in unknown]
                # Located at the first unknown label's key, so the message gets its line.
                raise SettingError(
                    f"unknown label(s) {unknown}; labels are {list(self.label_names)}"
                    + "".join(f"; {hint}" for hint in hints if hint),
                    *where,
                    unknown[0],
                )
        return self

    @model_validator(mode="after")
    def _shortlists_name_earlier_sources(self) -> JobConfig:
        names = [source.name for source in self.sources]
        for i, source in enumerate(self.sources):
            shortlist = getattr(source, "shortlist", None)
            if shortlist is None:
                continue
            where = f"sources[{i}].shortlist"
            if shortlist.source == source.name:
                raise ValueError(f"{where}.source: source {source.name!r} cannot shortlist itself")
            if shortlist.source not in names:
                raise ValueError(
                    f"{where}.source names unknown source {shortlist.source!r}; sources are {names}"
                )
            if names.index(shortlist.source) > i:
                raise ValueError(
                    f"{where}.source: {shortlist.source!r} comes after {source.name!r}; "
                    "list the shortlist source earlier in sources"
                )
            if shortlist.k >= len(self.labels):
                raise ValueError(
                    f"{where}.k: {shortlist.k} is not fewer than the {len(self.labels)} labels, "
                    "so every label would be scored; lower k or drop the shortlist"
                )
        return self

    @model_validator(mode="after")
    def _combine_fits_sources(self) -> JobConfig:
        combine = self.combine
        names = [source.name for source in self.sources]
        if combine.source is not None:
            if combine.method != "single":
                raise ValueError("combine.source only applies to method 'single'")
            if combine.source not in names:
                raise ValueError(
                    f"combine.source names unknown source {combine.source!r}; sources are {names}"
                )
        if self.multi_label and combine.method == "dawid_skene":
            raise ValueError(
                "combine.method 'dawid_skene' models one label per row; with multi_label use "
                "mean, vote or single"
            )
        return self

    @model_validator(mode="after")
    def _selection_fits_mode(self) -> JobConfig:
        # Compared with the defaults rather than fields_set, so that a dumped job validates back.
        selection, default = self.selection, SelectionSpec()
        if self.multi_label:
            if selection.per_class_top_fraction != default.per_class_top_fraction:
                raise SettingError(
                    "ranks one label per row; with multi_label use selection.threshold and "
                    "per_class_threshold",
                    "selection",
                    "per_class_top_fraction",
                )
            if self.calibration is not None:
                raise ValueError(
                    "calibration fits one temperature per single-label source; it is not "
                    "available with multi_label yet"
                )
        else:
            for key in ("threshold", "per_class_threshold"):
                if getattr(selection, key) != getattr(default, key):
                    raise SettingError(
                        "applies to multi_label jobs; for one label per row use "
                        "min_confidence and per_class_min_confidence",
                        "selection",
                        key,
                    )
        return self

    @property
    def label_names(self) -> tuple[str, ...]:
        return tuple(label.name for label in self.labels)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], *, origin: str = "job") -> JobConfig:
        """Validate a plain dict; errors name ``origin`` and the offending key."""
        try:
            return cls.model_validate(dict(raw))
        except ValidationError as exc:
            raise ConfigError(describe_validation_error(exc, origin, None)) from None
