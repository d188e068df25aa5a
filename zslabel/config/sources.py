"""The ``sources`` section: one spec per kind of labeling source (embedding, NLI, CLIP, rules,
fake), the discriminated union of them, and the settings they share (prompt templates, precision,
refined label prototypes, NLI shortlists).

The measured defaults live here, next to the fields they set, with where they were measured.
"""

from __future__ import annotations

import re
import string
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from zslabel.config.base import StrictModel
from zslabel.config.labels import canonical_keys

# Measured on AG News, SST-2 and BANKING77 with all-MiniLM-L6-v2 (README, "How the defaults were
# chosen"): the best mean full-coverage accuracy of four templates (0.705 against 0.683 for a
# bare description).
DEFAULT_TEMPLATE = "This text is about {description}."
# Cosine similarities of sentence embeddings span a narrow range (about -0.1 to 0.7), so the
# softmax needs a small temperature; 0.05 had the lowest mean calibration error of 0.02-0.1.
DEFAULT_TEMPERATURE = 0.05
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


# ISO 639-1 (two letters) or 639-2/3 (three) codes, lower-case, as language detectors report them.
_LANGUAGE_CODE = re.compile(r"[a-z]{2,3}")
# The template key for rows whose language has no template of its own.
DEFAULT_LANGUAGE_KEY = "default"


def _check_templates(templates: str | dict[str, str]) -> str | dict[str, str]:
    """A template, or a mapping of language code (or ``default``) to template, each checked."""
    if isinstance(templates, str):
        return _check_template(templates)
    if not templates:
        raise ValueError("give a template, or at least one language code: template")
    for language, template in templates.items():
        if language != DEFAULT_LANGUAGE_KEY and not _LANGUAGE_CODE.fullmatch(language):
            raise ValueError(
                f"template key {language!r} is not a language code: use lower-case ISO 639-1 "
                f"codes (es, en, pt; 2-3 letters) or {DEFAULT_LANGUAGE_KEY!r}"
            )
        try:
            _check_template(template)
        except ValueError as exc:
            raise ValueError(f"template {language!r}: {exc}") from None
    return templates


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


# Both by the refinement defaults' rule (best mean all-rows accuracy, no set losing more than 0.5
# point), over the full public test sets, their imbalanced variants and bench/bootstrap.py's
# small evaluation parts (docs/label-quality.md, "Small jobs and labels no text fits"):
# min_rows 2 cost BANKING77's 616-row part 3.1 points (0.620 against 0.651) and its 209-row
# Zipf-like part 12.4 (0.483 against 0.608): a label left unrefined loses rows to its refined
# neighbours, and those parts have many labels of one row. 1 costs no set anything.
MIN_ROWS_DEFAULT = 1
# Hampel's rule (median - k scaled MADs; Leys et al. 2013): 3.0 and 3.5 marked a fitting
# BANKING77 label stray and cost the 616-row part 0.8 point; from 4.0 no label of any public set
# is marked, while the "gardening" label of the tickets with their Spanish ones still is.
STRAY_MADS_DEFAULT = 4.0
# Refined references sit closer to their rows than the prompts do, so scores against them spread
# wider and the prompts' temperature made them overconfident (mean ECE 0.080 over eight sets; 576
# AG News rows at >= 0.999). By the source temperature's own rule, the lowest mean ECE (docs/
# label-quality.md, "Calibration after refinement"): x1.3 gave 0.042 (x1.2 0.049, x1.4 0.043,
# x1.5 0.057; refinement off 0.059) over the public test sets, their imbalanced variants and
# bench/bootstrap.py's two small evaluation parts.
TEMPERATURE_SCALE_DEFAULT = 1.3


class RefineSpec(StrictModel):
    """Transductive label prototypes (zslabel.refine): each label's reference embeddings moved
    ``weight`` of the way toward the mean embedding of the ``top_fraction`` of rows this source
    predicts as that label most confidently, ``passes`` times (each pass re-ranks with the
    previous pass's references and mixes with the prompt embeddings again)."""

    # Measured on AG News, SST-2 and BANKING77 (bench/refine_grid.py; README, "Label quality,
    # measured"): the best mean accuracy of a small grid, no set losing against off.
    passes: Annotated[int, Field(ge=1, le=10)] = 1
    weight: Annotated[float, Field(ge=0.0, le=1.0)] = 0.75
    top_fraction: Annotated[float, Field(gt=0.0, le=1.0)] = 0.3
    # A label whose prototype would rest on fewer rows keeps its prompts.
    min_rows: Annotated[int, Field(ge=1)] = MIN_ROWS_DEFAULT
    # A label the prompts gave its prototype rows with far less confidence than other labels
    # theirs keeps its prompts: rows that no description fits, pulled by chance (a new-user
    # trial: Spanish tickets all "gardening" at 0.996-1.000; zslabel.refine.stray_labels).
    # Hampel's rule: below the labels' median by more than stray_mads scaled MADs. None: never.
    stray_mads: Annotated[float, Field(gt=0)] | None = STRAY_MADS_DEFAULT
    # Scores against refined references are divided by the source's temperature times this.
    temperature_scale: Annotated[float, Field(gt=0)] = TEMPERATURE_SCALE_DEFAULT


def _refine_switch(value: object) -> object:
    """``refine: false`` (or null) turns refinement off, ``refine: true`` takes the defaults."""
    if value is False:
        return None
    if value is True:
        return {}
    if value is not None and not isinstance(value, dict | RefineSpec):
        raise ValueError(
            f"expected true, false or a mapping of settings ({', '.join(RefineSpec.model_fields)}),"
            f" got {value!r}"
        )
    return value


# The default for embedding and CLIP sources: on (README, "Label quality, measured").
DEFAULT_REFINE: RefineSpec | None = RefineSpec()


class EmbeddingSourceSpec(StrictModel):
    """Bi-encoder similarity between each text and each label description."""

    kind: Literal["embedding"] = "embedding"
    name: str | None = None
    model: str = "default"
    # One template, or one per language ({es: "...", en: "...", default: "..."}): each row is
    # scored against the prompts of its language's template (zslabel.sources.embedding).
    template: str | dict[str, str] = DEFAULT_TEMPLATE
    # Per-language templates only: the input column holding each row's language code; None:
    # detected per row (py3langid).
    language_column: str | None = None
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
    def _template_has_placeholder(cls, template: str | dict[str, str]) -> str | dict[str, str]:
        return _check_templates(template)

    @model_serializer(mode="wrap")
    def _without_unused_language_column(self, dump: SerializerFunctionWrapHandler) -> Any:
        """Jobs with one template keep the manifest bytes they had before the key existed."""
        dumped = dump(self)
        if self.language_column is None and isinstance(dumped, dict):
            dumped.pop("language_column", None)
        return dumped

    @model_validator(mode="after")
    def _int8_on_cpu(self) -> EmbeddingSourceSpec:
        _check_precision(self.precision, self.device)
        if self.language_column is not None and isinstance(self.template, str):
            raise ValueError(
                f"language_column {self.language_column!r} picks a template per row: give "
                "template as a mapping of language code to template, or drop language_column"
            )
        return self


class FakeSourceSpec(StrictModel):
    """A deterministic source that needs no model: for tests and dry runs."""

    kind: Literal["fake"] = "fake"
    name: str | None = None
    seed: int = 0
    weight: Annotated[float, Field(gt=0)] = 1.0


class Shortlist(StrictModel):
    """Score only each text's top-k labels of a cheaper source that comes earlier in the job."""

    source: str
    k: Annotated[int, Field(gt=0)] = 5


class NliSourceSpec(StrictModel):
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


class ClipSourceSpec(StrictModel):
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


class RuleSet(StrictModel):
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


class RulesSourceSpec(StrictModel):
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
        return canonical_keys(keyed)


SourceSpec = Annotated[
    EmbeddingSourceSpec | NliSourceSpec | ClipSourceSpec | RulesSourceSpec | FakeSourceSpec,
    Field(discriminator="kind"),
]

SOURCE_KINDS = ("embedding", "nli", "clip", "rules", "fake")
