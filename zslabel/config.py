"""The job spec: one frozen, validated model, loaded from YAML or built from a dict.

Validation happens here, at the edge, so that everything downstream can trust its inputs. Errors
name the key (``selection.min_confidence``), the file and, where the YAML tells, the line.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from zslabel.errors import ConfigError
from zslabel.jobyaml import construct, line_of, load_yaml_nodes, retype_as_typed
from zslabel.labelnames import canonical_label, describe_mismatch, visible

# Measured on AG News, SST-2 and BANKING77 with all-MiniLM-L6-v2 (README, "How the defaults were
# chosen"): the best mean full-coverage accuracy of four templates (0.705 against 0.683 for a
# bare description).
DEFAULT_TEMPLATE = "This text is about {description}."
# Cosine similarities of sentence embeddings span a narrow range (about -0.1 to 0.7), so the
# softmax needs a small temperature; 0.05 had the lowest mean calibration error of 0.02-0.1.
DEFAULT_TEMPERATURE = 0.05
DEFAULT_SPLITS = {"train": 0.8, "validation": 0.1, "test": 0.1}
# Multi-label mode: a label whose similarity is within this of the row's best gets probability
# 0.5. Relative, because absolute cosines differ by domain: all-MiniLM-L6-v2 puts texts and their
# own class's prompt at 0.17 on average on AG News and 0.53 on BANKING77 (README, "Multi-label").
DEFAULT_WITHIN = 0.02


def _check_template(template: str) -> str:
    fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    unknown = fields - {"description", "label"}
    if unknown:
        raise ValueError(
            f"unknown placeholder(s) {sorted(unknown)}; use {{description}} or {{label}}"
        )
    if not fields:
        raise ValueError("the template must contain {description} or {label}")
    return template


# fp32: transformers in torch (fp16 on a GPU). bf16: torch in bfloat16, the fastest on a CPU with
# AMX. int8: dynamically quantized weights run by ONNX Runtime on the CPU, about twice as fast as
# fp32 there. auto: bf16 for embedding sources on a CPU with bfloat16 units, else fp32.
# zslabel.precision says more; the labels each changes are measured in the README.
Precision = Literal["auto", "fp32", "bf16", "int8"]


def _check_precision(precision: str, device: str) -> None:
    """int8 is a CPU runtime: with a GPU, fp16 (what fp32 becomes there) is the fast path."""
    if precision == "int8" and device == "cuda":
        raise ValueError(
            "precision: int8 runs on the CPU (ONNX Runtime); with device: cuda use precision: "
            "fp32, which runs in fp16 on the GPU"
        )


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Label(_Strict):
    """A class name, the descriptions a source may use to recognise it, and optional examples."""

    name: str
    descriptions: tuple[str, ...]
    examples: tuple[str, ...] = ()


class InputSpec(_Strict):
    path: str
    text_column: str = "text"
    id_column: str | None = None
    batch_rows: Annotated[int, Field(gt=0)] = 4096
    # Rows per shard, the unit of scoring, caching and resuming: whole row groups, or ranges
    # of shard_rows to 2 x shard_rows rows of a larger group. About a minute and a half of
    # CPU scoring with the default model.
    shard_rows: Annotated[int, Field(gt=0)] = 16_384


class RefineSpec(_Strict):
    """Transductive label prototypes (zslabel.refine): each label's reference embeddings moved
    ``weight`` of the way toward the mean embedding of the ``top_fraction`` of rows this source
    predicts as that label most confidently, ``passes`` times (each pass re-ranks with the
    previous pass's references and mixes with the prompt embeddings again)."""

    # Measured on AG News, SST-2 and BANKING77 (bench/refine_grid.py; README, "Label quality,
    # measured"): the best mean accuracy of a small grid, no set losing against off.
    passes: Annotated[int, Field(ge=1, le=10)] = 1
    weight: Annotated[float, Field(ge=0.0, le=1.0)] = 0.75
    top_fraction: Annotated[float, Field(gt=0.0, le=1.0)] = 0.3


def _refine_switch(value: object) -> object:
    """``refine: false`` (or null) turns refinement off, ``refine: true`` takes the defaults."""
    if value is False:
        return None
    if value is True:
        return {}
    return value


# The default for embedding and CLIP sources: on (README, "Label quality, measured").
DEFAULT_REFINE: RefineSpec | None = RefineSpec()


class EmbeddingSourceSpec(_Strict):
    """Bi-encoder similarity between each text and each label description."""

    kind: Literal["embedding"] = "embedding"
    name: str | None = None
    model: str = "default"
    template: str = DEFAULT_TEMPLATE
    temperature: Annotated[float, Field(gt=0)] = DEFAULT_TEMPERATURE
    # How several descriptions of one label become one score.
    aggregate: Literal["mean", "max"] = "max"
    # Most texts, and most padded tokens, a batch; None: 128 texts and 2,048 tokens on a CPU,
    # 256 texts and 65,536 tokens on a GPU (measured; README, Performance).
    batch_size: Annotated[int, Field(gt=0)] | None = None
    batch_tokens: Annotated[int, Field(gt=0)] | None = None
    max_length: Annotated[int, Field(gt=0)] | None = None
    pooling: Literal["auto", "mean", "cls"] = "auto"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # auto, bf16, fp32 or int8 (ONNX Runtime, the onnx extra); see zslabel.precision and README.
    precision: Precision = "auto"
    weight: Annotated[float, Field(gt=0)] = 1.0
    # Texts longer than max_length: cut them off, or score overlapping token windows and keep
    # the best (max) or average (mean) window per label.
    long_texts: Literal["truncate", "chunk"] = "truncate"
    chunk_overlap: Annotated[int, Field(ge=0)] = 32
    max_chunks: Annotated[int, Field(gt=0)] = 8
    chunk_aggregate: Literal["max", "mean"] = "max"
    # Multi-label mode only: each label's probability is sigmoid((similarity - c) / T), where c is
    # the row's best similarity minus ``within``, or the fixed ``center`` when one is given.
    within: Annotated[float, Field(ge=0.0, le=2.0)] = DEFAULT_WITHIN
    center: Annotated[float, Field(ge=-1.0, le=1.0)] | None = None
    # Transductive label prototypes from the job's own rows; false or null: off.
    refine: RefineSpec | None = DEFAULT_REFINE

    @field_validator("refine", mode="before")
    @classmethod
    def _refine_switch(cls, value: object) -> object:
        return _refine_switch(value)

    @field_validator("template")
    @classmethod
    def _template_has_placeholder(cls, template: str) -> str:
        return _check_template(template)

    @model_validator(mode="after")
    def _int8_on_cpu(self) -> EmbeddingSourceSpec:
        _check_precision(self.precision, self.device)
        return self


class FakeSourceSpec(_Strict):
    """A deterministic source that needs no model: for tests and dry runs."""

    kind: Literal["fake"] = "fake"
    name: str | None = None
    seed: int = 0
    weight: Annotated[float, Field(gt=0)] = 1.0


class Shortlist(_Strict):
    """Score only each text's top-k labels of a cheaper source that comes earlier in the job."""

    source: str
    k: Annotated[int, Field(gt=0)] = 5


class NliSourceSpec(_Strict):
    """A cross-encoder NLI model: does the text entail "This example is about <label>."?"""

    kind: Literal["nli"] = "nli"
    name: str | None = None
    # No NLI weights ship offline: a hub id (facebook/bart-large-mnli,
    # MoritzLaurer/deberta-v3-base-zeroshot-v2.0) or a local folder.
    model: str
    hypothesis: str = "This example is about {description}."
    temperature: Annotated[float, Field(gt=0)] = 1.0
    aggregate: Literal["mean", "max"] = "max"
    # Most (text, hypothesis) pairs, and most padded tokens, a batch; None: as for embedding.
    batch_size: Annotated[int, Field(gt=0)] | None = None
    batch_tokens: Annotated[int, Field(gt=0)] | None = None
    max_length: Annotated[int, Field(gt=0)] | None = None
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # auto, bf16, fp32 or int8 (ONNX Runtime, the onnx extra); see zslabel.precision and README.
    precision: Precision = "auto"
    weight: Annotated[float, Field(gt=0)] = 1.0
    # Cost grows with k instead of the number of labels (a cascade for large label sets).
    shortlist: Shortlist | None = None

    @field_validator("hypothesis")
    @classmethod
    def _hypothesis_has_placeholder(cls, hypothesis: str) -> str:
        return _check_template(hypothesis)

    @model_validator(mode="after")
    def _int8_on_cpu(self) -> NliSourceSpec:
        _check_precision(self.precision, self.device)
        return self


class ClipSourceSpec(_Strict):
    """Zero-shot image classification: CLIP similarity between each image and each label prompt."""

    kind: Literal["clip"] = "clip"
    name: str | None = None
    # No CLIP weights ship offline: a hub id (openai/clip-vit-base-patch32) or a local folder.
    model: str
    # The image column: encoded image bytes, file paths (relative ones are relative to the Parquet
    # file's folder), or {bytes, path} structs as Hugging Face datasets write them.
    column: str = "image"
    template: str = "a photo of a {description}."
    # None: the model's own learned logit scale (about 100 for OpenAI CLIP), i.e. T = 1 / scale.
    temperature: Annotated[float, Field(gt=0)] | None = None
    aggregate: Literal["mean", "max"] = "max"
    batch_size: Annotated[int, Field(gt=0)] = 32
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # As for text sources, less int8.
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    weight: Annotated[float, Field(gt=0)] = 1.0
    # Multi-label mode only, as for embedding sources (not measured for CLIP: no weights offline).
    within: Annotated[float, Field(ge=0.0, le=2.0)] = DEFAULT_WITHIN
    center: Annotated[float, Field(ge=-1.0, le=1.0)] | None = None
    # Transductive label prototypes from the job's own rows; false or null: off.
    refine: RefineSpec | None = DEFAULT_REFINE

    @field_validator("refine", mode="before")
    @classmethod
    def _refine_switch(cls, value: object) -> object:
        return _refine_switch(value)

    @field_validator("template")
    @classmethod
    def _template_has_placeholder(cls, template: str) -> str:
        return _check_template(template)


class RuleSet(_Strict):
    keywords: tuple[str, ...] = ()
    regex: tuple[str, ...] = ()

    @field_validator("regex")
    @classmethod
    def _compiles(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
        return patterns


class RulesSourceSpec(_Strict):
    """Keyword and regex labeling functions: a row gets a vote for every label whose rules match,
    and the source abstains on rows that match none."""

    kind: Literal["rules"] = "rules"
    name: str | None = None
    rules: dict[str, RuleSet]
    case_sensitive: bool = False
    weight: Annotated[float, Field(gt=0)] = 1.0

    @field_validator("rules", mode="before")
    @classmethod
    def _label_keys(cls, keyed: Any) -> Any:
        return _canonical_keys(keyed)


SourceSpec = Annotated[
    EmbeddingSourceSpec | NliSourceSpec | ClipSourceSpec | RulesSourceSpec | FakeSourceSpec,
    Field(discriminator="kind"),
]

SOURCE_KINDS = ("embedding", "nli", "clip", "rules", "fake")

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


class CombineSpec(_Strict):
    """How several sources' probabilities become one."""

    # auto: a single source as it is; several: their weighted mean. single: only ``source``
    # decides (the others are still scored, shown and diagnosed).
    method: Literal["auto", "single", "mean", "vote", "dawid_skene"] = "auto"
    source: str | None = None  # for single; default the first source
    # Without a gold file, each of several sources gets the temperature that makes its mean
    # confidence on the data equal this prior accuracy (Snorkel's prior, 0.7), so that a sharp
    # source (a rule's hard vote) does not outvote a flat one by scale alone. null: raw scores.
    prior_accuracy: Annotated[float, Field(gt=0.0, lt=1.0)] | None = 0.7
    # The Dawid-Skene label model and the source diagnostics use at most this many rows, spread
    # evenly over the input, so that memory stays bounded on large datasets.
    fit_rows: Annotated[int, Field(gt=0)] = 100_000


class CalibrationSpec(_Strict):
    """A small hand-labeled Parquet file to fit each source's temperature on."""

    gold: str
    column: str = "label"
    text_column: str | None = None  # default: input.text_column


class SelectionSpec(_Strict):
    """Which scored rows are accepted; the rest are abstained (kept for review), never dropped."""

    min_confidence: Fraction = 0.0
    per_class_min_confidence: dict[str, Fraction] = Field(default_factory=dict)
    # The most confident fraction of the rows predicted as each class. Per class rather than
    # global: a global cut keeps mostly the easiest class and starves the others.
    # Half of each class by default: the confident half of a zero-shot labeler is far more
    # accurate than the rest (AG News: 0.89 against 0.77 for every row).
    per_class_top_fraction: Annotated[float, Field(gt=0.0, le=1.0)] = 0.5
    min_margin: Fraction = 0.0
    # Multi-label mode: a label is assigned where its probability reaches its threshold.
    threshold: Fraction = 0.5
    per_class_threshold: dict[str, Fraction] = Field(default_factory=dict)

    @field_validator("per_class_min_confidence", "per_class_threshold", mode="before")
    @classmethod
    def _label_keys(cls, keyed: Any) -> Any:
        return _canonical_keys(keyed)


class OutputSpec(_Strict):
    dir: str
    format: Literal["parquet", "jsonl", "csv"] = "parquet"
    splits: dict[str, Fraction] = Field(default_factory=lambda: dict(DEFAULT_SPLITS))
    seed: int = 0
    work_dir: str | None = None

    @field_validator("splits")
    @classmethod
    def _splits_sum_to_one(cls, splits: dict[str, float]) -> dict[str, float]:
        if not splits:
            raise ValueError("at least one split is needed, e.g. {train: 1.0}")
        for name in splits:
            if not re.fullmatch(r"[\w-]+", name):  # letters of any script: "validación"
                raise ValueError(f"split name {name!r}: use letters, digits, '_' and '-' only")
        reserved = {"labeled", "abstained", "manifest", "run"}
        clash = reserved & {name.lower() for name in splits}
        if clash:
            raise ValueError(f"split names {sorted(clash)} are reserved for other output files")
        total = sum(splits.values())
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ValueError(f"split fractions must sum to 1, got {total:g}")
        return splits


class RunnerSpec(_Strict):
    """Where the Prefect flow scores shards. The library itself always runs in-process."""

    kind: Literal["threads", "dask", "ray"] = "threads"
    # An existing cluster (dask: tcp://host:8786, ray: ray://host:10001); none starts a local one.
    address: str | None = None
    # Threads, or local worker processes; each process loads the model once.
    workers: Annotated[int, Field(gt=0)] | None = None


class StudentSpec(_Strict):
    """A supervised student fitted on the exported train split (``zslabel train``), optionally
    improved by self-training rounds. Defaults measured on AG News, SST-2 and BANKING77 (README,
    "Training a student model")."""

    # logistic: logistic regression on frozen sentence embeddings (fast on a CPU); finetune: the
    # encoder fine-tuned end to end with a linear head (wants a GPU).
    kind: Literal["logistic", "finetune"] = "logistic"
    # Embedding (or base) model; None: the job's first embedding source's model, else default.
    model: str | None = None
    # Self-training rounds after the first fit; each relabels the pool and retrains.
    rounds: Annotated[int, Field(ge=0)] = 4
    # The teacher's share of the probabilities that relabel the pool in each round.
    teacher_weight: Fraction = 0.5
    # Per class, the most confident share of the relabeled rows trained on; None: the job's
    # selection.per_class_top_fraction. 0.7 rather than the selection's half: rounds after the
    # first gain from more rows, once the student's view is blended in (README, "Class
    # imbalance": +1.1 points mean over six public sets and variants).
    top_fraction: Annotated[float, Field(gt=0.0, le=1.0)] | None = 0.7
    # Stop early once a relabeling changes at most this share of the pool's labels.
    tolerance: Fraction = 0.005
    # Logistic regression: inverse L2 strength (scikit-learn's C) and class weighting. 0.3
    # regularises more than scikit-learn's 1.0: pseudo-labels are noisy.
    c: Annotated[float, Field(gt=0)] = 0.3
    # estimated: weigh the classes to the pool's estimated class distribution (zslabel.priors);
    # balanced: as if every class were equally common; none: as the pseudo-labels come.
    class_weight: Literal["estimated", "balanced", "none"] = "estimated"
    # Adopt the student only when the teacher's probabilities rate its labels at most this
    # much below the teacher's own (zslabel.student.adoption; README: measured on AG News,
    # SST-2, BANKING77 and imbalanced variants). Negative: never adopt.
    adoption_margin: Annotated[float, Field(ge=-1.0, le=1.0)] = 0.01
    # finetune only.
    epochs: Annotated[int, Field(gt=0)] = 2
    learning_rate: Annotated[float, Field(gt=0)] = 2e-5
    batch_size: Annotated[int, Field(gt=0)] = 16
    device: Literal["auto", "cpu", "cuda"] = "auto"
    seed: int = 0


class JobConfig(_Strict):
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
    output: OutputSpec
    runner: RunnerSpec = RunnerSpec()
    # Label only input files that no earlier run of this job labeled, into a new version folder.
    incremental: bool = False
    # A student model trained on the labeled output (zslabel train), optionally self-trained.
    student: StudentSpec | None = None

    @field_validator("labels", mode="before")
    @classmethod
    def _normalise_labels(cls, raw: Any) -> list[dict[str, Any]]:
        return [{"name": n, **described} for n, described in _label_items(raw)]

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
        named = {
            "selection.per_class_min_confidence": set(self.selection.per_class_min_confidence),
            "selection.per_class_threshold": set(self.selection.per_class_threshold),
        }
        for i, source in enumerate(self.sources):
            if isinstance(source, RulesSourceSpec):
                named[f"sources[{i}].rules"] = set(source.rules)
        for where, labels in named.items():
            unknown = labels - set(self.label_names)
            if unknown:
                hints = [describe_mismatch(name, self.label_names) for name in sorted(unknown)]
                raise ValueError(
                    f"{where} names unknown label(s) {sorted(unknown)}; "
                    f"labels are {list(self.label_names)}"
                    + "".join(f"; {hint}" for hint in hints if hint)
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
                raise ValueError(
                    "selection.per_class_top_fraction ranks one label per row; with multi_label "
                    "use selection.threshold and per_class_threshold"
                )
            if self.calibration is not None:
                raise ValueError(
                    "calibration fits one temperature per single-label source; it is not "
                    "available with multi_label yet"
                )
        else:
            for key in ("threshold", "per_class_threshold"):
                if getattr(selection, key) != getattr(default, key):
                    raise ValueError(
                        f"selection.{key} applies to multi_label jobs; for one label per row "
                        "use min_confidence and per_class_min_confidence"
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
            raise ConfigError(_describe(exc, origin, None)) from None


class LabelError(ValueError):
    """A problem with one label, located at ``at`` under ``labels`` (an index or a name)."""

    def __init__(self, message: str, *at: int | str) -> None:
        super().__init__(message)
        self.at = at


def _label_items(raw: Any) -> list[tuple[str, dict[str, list[str]]]]:
    """Names, name -> description(s), or name -> {descriptions, examples}, as
    (name, {"descriptions": [...], "examples": [...]}); names in Unicode NFC."""
    if isinstance(raw, str):
        raw = raw.split(",")
    if isinstance(raw, Mapping):
        pairs = [(name, name, described) for name, described in raw.items()]
    elif isinstance(raw, Sequence):
        # Names, or {name, descriptions, examples} records: what model_dump() gives back.
        pairs = [
            (i, item["name"], {k: v for k, v in item.items() if k != "name"})
            if isinstance(item, Mapping) and "name" in item
            else (i, item, None)
            for i, item in enumerate(raw)
        ]
    else:
        raise ValueError("labels must be a list of names or a mapping of name -> description(s)")
    items: list[tuple[str, dict[str, list[str]]]] = []
    seen: dict[str, object] = {}
    for at, name, described in pairs:
        if not isinstance(name, str) or not name.strip():
            raise LabelError(f"label names must be non-empty strings, got {name!r}", at)
        canonical = canonical_label(name)
        if canonical in seen:
            first = str(seen[canonical])
            written = "" if first == name else f" (written {visible(first)} and {visible(name)})"
            raise LabelError(f"duplicate label {canonical!r}{written}", at)
        seen[canonical] = name
        try:
            items.append((canonical, _described(canonical, described)))
        except LabelError as exc:  # located within the label: its key
            raise LabelError(str(exc), at, *exc.at) from None
        except ValueError as exc:
            raise LabelError(str(exc), at) from None
    if len(items) < 2:
        raise ValueError(f"at least 2 labels are needed, got {len(items)}")
    return items


def _described(name: str, described: Any) -> dict[str, list[str]]:
    if isinstance(described, Mapping):
        unknown = set(described) - {"descriptions", "examples"}
        if unknown:
            raise LabelError(f"label {name!r}: unknown key(s) {sorted(unknown)}", min(unknown))
        descriptions, examples = described.get("descriptions"), described.get("examples")
    else:
        descriptions, examples = described, None
    return {
        # Intent-style names ("card_arrival") read better to a text encoder as words.
        "descriptions": (
            [name.replace("_", " ")]
            if descriptions is None
            else _texts(name, descriptions, "descriptions", keyed=isinstance(described, Mapping))
        ),
        "examples": _texts(name, examples, "examples", keyed=True) if examples else [],
    }


def _canonical_keys(keyed: Any) -> Any:
    """A mapping keyed by label names, its keys in the form labels have (NFC, stripped)."""
    if not isinstance(keyed, Mapping):
        return keyed
    return {canonical_label(k) if isinstance(k, str) else k: v for k, v in keyed.items()}


def _texts(name: str, given: Any, what: str, *, keyed: bool) -> list[str]:
    """``given`` as a list of non-empty texts; errors located at the item (under the ``what``
    key where the label is a mapping of keys)."""
    where = (what,) if keyed else ()
    if isinstance(given, str):
        given = [given]
    if not isinstance(given, Sequence) or not given:
        raise LabelError(f"label {name!r}: give one text or a non-empty list of {what}", *where)
    for i, text in enumerate(given):
        if not isinstance(text, str) or not text.strip():
            raise LabelError(f"label {name!r}: {what} must be non-empty strings", *where, i)
    return [text.strip() for text in given]


def load_job(path: str | Path, overrides: Mapping[str, Any] | None = None) -> JobConfig:
    """Load and validate a YAML job file; relative paths in it are relative to the file.

    The file is read as YAML 1.2 with names kept as typed (:mod:`zslabel.jobyaml`): ``labels:
    [yes, no]`` names the labels ``yes`` and ``no``. ``overrides`` is a nested dict merged over
    the file before validation (the CLI's flags). Raises ConfigError naming the file, the key
    path and its line.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: job file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read job file ({exc})") from None
    try:
        root = load_yaml_nodes(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}{where}: YAML syntax error: {problem}") from None
    # A text setting given something that reads as a number (text_column: 2024) is read again
    # as typed; each pass fixes every such value pydantic reported, nested unions need a few.
    for _ in range(_RETYPE_PASSES):
        raw = construct(root)
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: expected a mapping of job settings at the top level")
        merged = deep_merge(_resolve_paths(raw, path.parent), overrides or {})
        try:
            return JobConfig.model_validate(merged)
        except ValidationError as exc:
            error = exc
            retyped = [
                retype_as_typed(root, _yaml_path(e), e.get("input"))
                for e in exc.errors()
                if e["type"] == "string_type"
            ]
            if not any(retyped):
                break
    raise ConfigError(_describe(error, str(path), root)) from None


# Passes of reading text settings as typed: one per level of nesting that can hide an error.
_RETYPE_PASSES = 4


def _resolve_paths(raw: dict[str, Any], base: Path) -> dict[str, Any]:
    """Make the file's relative paths relative to the job file's folder, not the caller's cwd."""
    resolved = dict(raw)
    sections = (
        ("input", "path"),
        ("output", "dir"),
        ("output", "work_dir"),
        ("calibration", "gold"),
    )
    for section, key in sections:
        block = resolved.get(section)
        if isinstance(block, dict) and isinstance(block.get(key), str):
            value = block[key]
            if "://" not in value and not Path(value).is_absolute():
                resolved[section] = {**block, key: str(base / value)}
    return resolved


def deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _describe(exc: ValidationError, origin: str, root: yaml.Node | None) -> str:
    parts = []
    for error in exc.errors():
        path = _yaml_path(error)
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        line = line_of(root, path) if root is not None else None
        where = f", line {line}" if line else ""
        key = _dotted(path)
        # Whole-job checks name their keys in the message itself.
        parts.append(f"{key}{where}: {message}" if key else message)
    return f"{origin}: " + "; ".join(parts)


def _yaml_path(error: Any) -> list[Any]:
    """Where in the job file an error is: pydantic's location less the source kind it adds for
    the discriminated union, plus the label or item a labels check names."""
    loc = list(error["loc"])
    if len(loc) > 2 and loc[0] == "sources" and isinstance(loc[1], int) and loc[2] in SOURCE_KINDS:
        del loc[2]
    loc = [part for part in loc if part != "[key]"]
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, LabelError):
        loc += list(cause.at)
    return loc


def _dotted(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
