"""Plan a job: open its input, plan the shards, build its sources and its output schema.

Everything here is checked before any row is scored, so a bad job fails before it costs time.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from zslabel import columns
from zslabel.cache import FeatureCache
from zslabel.config import ClipSourceSpec, JobConfig, NliSourceSpec
from zslabel.config.io import feature_cache_folder, work_folder
from zslabel.dataset import InputDataset
from zslabel.errors import ConfigError, OutputError
from zslabel.export import check_output_types
from zslabel.sources import EmbeddingSource, NliSource, Source, build_source
from zslabel.version_index import check_not_mixed


@dataclass(frozen=True, eq=False)
class JobPlan:
    """What every stage reads about one job; built once by :func:`plan_job`, never changed.

    ``sources`` and ``columns`` run in parallel: ``columns[i]`` is the input column source ``i``
    reads (the text column or an image column). ``shortlists`` maps a source index to (index of
    its shortlist source, k) for NLI sources that score only an earlier source's top-k labels.
    """

    config: JobConfig
    label_names: list[str]
    output_dir: Path
    work_dir: Path
    dataset: InputDataset
    cache: FeatureCache
    sources: list[Source]
    columns: list[str]
    shortlists: Mapping[int, tuple[int, int]]
    reads_text: bool
    # Each source's own verdict is kept beside the combined one when there are several.
    shown_sources: list[str]
    window_sources: list[EmbeddingSource]
    schema: pa.Schema

    @property
    def multi_label(self) -> bool:
        return self.config.multi_label


def plan_job(config: JobConfig, files: Collection[str] | None = None) -> JobPlan:
    """Open ``config.input`` (only ``files`` of it, if given) and build the job's sources.

    Raises OutputError when the output path is a file or an incremental job's output root,
    ConfigError when it lies inside the input folder, and the dataset's and sources' own
    errors for a bad input or source.
    """
    output_dir = Path(config.output.dir).expanduser()
    if output_dir.exists() and not output_dir.is_dir():
        raise OutputError(f"{output_dir}: output path exists and is not a folder")
    check_not_mixed(output_dir, incremental=False)
    work_dir = work_folder(config.output)
    _check_output_outside_input(config.input.path, output_dir)
    image_columns = sorted({s.column for s in config.sources if isinstance(s, ClipSourceSpec)})
    reads_text = any(not isinstance(s, ClipSourceSpec) for s in config.sources)
    dataset = InputDataset(config.input, files, needs_text=reads_text, image_columns=image_columns)
    # Shared by every output of the user (keyed by content): a new --out reuses it.
    cache = FeatureCache(feature_cache_folder(config.output, config.runner))
    sources = [
        build_source(spec, config.labels, cache, multi_label=config.multi_label)
        for spec in config.sources
    ]
    label_names = list(config.label_names)
    shown_sources = [s.name for s in sources] if len(sources) > 1 else []
    window_sources = [s for s in sources if isinstance(s, EmbeddingSource) and s.chunks_long_texts]
    schema = columns.output_schema(
        dataset.schema,
        label_names,
        shown_sources,
        [s.name for s in window_sources],
        config.input.path,
        multi_label=config.multi_label,
    )
    # A column the output format cannot hold is refused now, not after scoring.
    check_output_types(schema, config.output.format, config.input.path)
    return JobPlan(
        config=config,
        label_names=label_names,
        output_dir=output_dir,
        work_dir=work_dir,
        dataset=dataset,
        cache=cache,
        sources=sources,
        columns=[
            spec.column if isinstance(spec, ClipSourceSpec) else config.input.text_column
            for spec in config.sources
        ],
        shortlists=_link_shortlists(config, sources),
        reads_text=reads_text,
        shown_sources=shown_sources,
        window_sources=window_sources,
        schema=schema,
    )


def _link_shortlists(config: JobConfig, sources: list[Source]) -> dict[int, tuple[int, int]]:
    """Source index -> (index of its shortlist source, k), for sources with a shortlist."""
    names = [source.name for source in sources]
    links = {}
    for i, spec in enumerate(config.sources):
        if isinstance(spec, NliSourceSpec) and spec.shortlist is not None:
            source = sources[i]
            assert isinstance(source, NliSource)
            earlier = names.index(spec.shortlist.source)  # JobConfig checked it is earlier
            source.shortlist_from(sources[earlier])
            links[i] = (earlier, spec.shortlist.k)
    return links


def _check_output_outside_input(input_path: str, output_dir: Path) -> None:
    """Outputs inside an input folder would be read back as input on the next run."""
    if "://" in input_path:
        return
    source = Path(input_path).expanduser().resolve()
    if source.is_dir() and output_dir.resolve().is_relative_to(source):
        raise ConfigError(
            f"output folder {output_dir} is inside the input folder {source}: the next run would "
            "read the outputs as input; choose an output folder outside it"
        )
