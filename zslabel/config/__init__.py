"""The job spec: one frozen, validated model, loaded from YAML or built from a dict.

Validation happens here, at the edge, so that everything downstream can trust its inputs. Errors
name the key (``selection.min_confidence``), the file and, where the YAML tells, the line. One
module per part of the job file: ``labels``, ``io`` (input and output), ``sources``,
``selection`` (combine, calibration, selection), ``review``, ``runner``, ``student``, ``drift``;
``job`` gathers them, ``load`` reads a job file and ``describe`` words validation errors. Import
from here.
"""

from zslabel.config.base import Fraction
from zslabel.config.drift import DriftSpec
from zslabel.config.io import DEFAULT_SPLITS, InputSpec, OutputSpec
from zslabel.config.job import JobConfig
from zslabel.config.labels import Label, LabelError
from zslabel.config.load import deep_merge, load_job
from zslabel.config.review import ReviewSpec
from zslabel.config.runner import RunnerSpec
from zslabel.config.selection import CalibrationSpec, CombineSpec, SelectionSpec
from zslabel.config.sources import (
    DEFAULT_REFINE,
    DEFAULT_TEMPERATURE,
    DEFAULT_TEMPLATE,
    DEFAULT_WITHIN,
    SOURCE_KINDS,
    ClipSourceSpec,
    EmbeddingSourceSpec,
    FakeSourceSpec,
    NliSourceSpec,
    Precision,
    RefineSpec,
    RuleSet,
    RulesSourceSpec,
    Shortlist,
    SourceSpec,
)
from zslabel.config.student import StudentSpec

__all__ = [
    "DEFAULT_REFINE",
    "DEFAULT_SPLITS",
    "DEFAULT_TEMPERATURE",
    "DEFAULT_TEMPLATE",
    "DEFAULT_WITHIN",
    "SOURCE_KINDS",
    "CalibrationSpec",
    "ClipSourceSpec",
    "CombineSpec",
    "DriftSpec",
    "EmbeddingSourceSpec",
    "FakeSourceSpec",
    "Fraction",
    "InputSpec",
    "JobConfig",
    "Label",
    "LabelError",
    "NliSourceSpec",
    "OutputSpec",
    "Precision",
    "RefineSpec",
    "ReviewSpec",
    "RuleSet",
    "RulesSourceSpec",
    "RunnerSpec",
    "SelectionSpec",
    "Shortlist",
    "SourceSpec",
    "StudentSpec",
    "deep_merge",
    "load_job",
]
