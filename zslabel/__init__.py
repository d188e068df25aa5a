"""zslabel: bootstrap labeled training data from raw Parquet with zero-shot classifiers.

>>> import zslabel
>>> job = zslabel.load_job("job.yaml")          # doctest: +SKIP
>>> result = zslabel.run_job(job)               # doctest: +SKIP
>>> zslabel.evaluate(result.output_dir, "topic")  # doctest: +SKIP
"""

from zslabel import allocator  # noqa: F401 - before anything imports pyarrow
from zslabel.version import __version__

# isort: split
from zslabel.config import JobConfig, load_job
from zslabel.errors import (
    ConfigError,
    InputError,
    ModelError,
    OutputError,
    ZslabelError,
    ZslabelWarning,
)
from zslabel.evaluate import evaluate
from zslabel.frame import label_frame
from zslabel.hf_datasets import hf_data_files
from zslabel.incremental import run_incremental
from zslabel.runner import LabelingJob, RunResult, run_job

__all__ = [
    "ConfigError",
    "InputError",
    "JobConfig",
    "LabelingJob",
    "ModelError",
    "OutputError",
    "RunResult",
    "ZslabelError",
    "ZslabelWarning",
    "__version__",
    "evaluate",
    "hf_data_files",
    "label_frame",
    "load_job",
    "run_incremental",
    "run_job",
]
