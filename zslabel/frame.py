"""Label a pandas DataFrame or a list of texts in memory: :func:`label_frame`.

The rows go through the same pipeline as a job file (:func:`zslabel.run_job`: sources,
refinement, combining, selection); the job runs in a temporary folder that is removed
afterwards, unless ``out=`` asks to keep its output folder. pandas is imported on first use,
so ``import zslabel`` stays light.
"""

from __future__ import annotations

import math
import tempfile
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from zslabel import columns
from zslabel.config import JobConfig
from zslabel.errors import ConfigError, InputError, ZslabelError, ZslabelWarning

if TYPE_CHECKING:
    import pandas as pd

# The columns label_frame adds, in this order.
ADDED = (columns.LABEL, columns.CONFIDENCE, columns.MARGIN, columns.STATUS, columns.REASON)
# Keyword shortcuts for the one embedding source of a job without ``sources=``.
SOURCE_SHORTCUTS = ("model", "template", "temperature", "refine")
# Job-file keys that name files; label_frame manages them (``out=``, ``cache_dir=``).
_MANAGED = {"input": ("path",), "output": ("dir", "work_dir", "cache_dir")}
_REFUSED = {
    "incremental": "incremental jobs label new files of a folder; label_frame has one frame",
}
_INSTEAD = {
    "path": "pass the frame",
    "dir": "use out=",
    "work_dir": "use cache_dir= for the feature cache",
    "cache_dir": "use cache_dir=",
}
INPUT_FILE = "input.parquet"


def label_frame(
    frame: pd.DataFrame | pd.Series | Iterable[str | None],
    labels: Any,
    *,
    text_column: str | None = None,
    out: str | Path | None = None,
    cache_dir: str | Path | None = None,
    scores: bool = False,
    progress: bool = False,
    **options: Any,
) -> pd.DataFrame:
    """Label the rows of ``frame`` with the zslabel pipeline and return them with their labels.

    Args:
        frame: a DataFrame with a text column, or a sequence (list, tuple, numpy array, Series)
            of texts, which becomes a one-column DataFrame named ``text_column`` (a Series keeps
            its own name unless ``text_column`` is given). ``None`` and NaN are null texts.
        labels: as the job file's ``labels:``: a list of names, or a mapping of name to one or
            more descriptions (``{"billing": "an invoice or a refund", ...}``); at least 2.
        text_column: the column holding the texts (string values, None or NaN); default
            ``"text"``, or a named Series's name.
        out: keep the job's output folder here (``labeled.parquet``, one file per split,
            ``manifest.json``, ``report.html``, review files), its features cached in the
            user's cache folder as a job's are (``$ZSLABEL_CACHE_DIR``, else
            ``~/.cache/zslabel``); the input rows are written into the splits with all their
            columns. None (the default): nothing is left on disk.
        cache_dir: a cache folder (the job file's ``output.cache_dir``; features go to
            ``cache_dir/features``), so that a repeated call on the same texts with the same
            sources does not encode them again; None: the user's cache folder with ``out``,
            else a temporary folder removed afterwards.
        scores: also return each label's probability, ``zs_score_<label>`` (float32).
        progress: show a progress bar while scoring.
        **options: the job file's other top-level keys, as Python values: ``sources=[...]``,
            ``selection={...}``, ``combine={...}``, ``calibration={...}``, ``multi_label=True``,
            ``input={"id_column": ..., "shard_rows": ...}``, ``output={"splits": ..., ...}``;
            or, for the one default embedding source, the shortcuts ``model=``, ``template=``,
            ``temperature=`` and ``refine=`` (not together with ``sources=``).

    Returns:
        A new DataFrame of ``len(frame)`` rows, in input order and with the input's index and
        columns, plus ``zs_label`` (str; missing where no label was predicted),
        ``zs_confidence`` and ``zs_margin`` (float32 in [0, 1]; NaN where the row was not
        scored), ``zs_status`` (``accepted``, ``abstained`` or ``invalid``) and ``zs_reason``
        (why a row was abstained or invalid, e.g. ``outside_class_top_fraction``,
        ``null_text``, ``empty_text``; missing for accepted rows). A multi-label job adds
        ``zs_labels`` (a list of names per row) after ``zs_label``; ``scores=True`` adds
        ``zs_score_<label>`` (float32) per label. Every input row comes back, null and blank
        texts as ``invalid`` with their reason.

    Raises:
        TypeError: ``frame`` is a single string, or not a DataFrame or a sequence of texts.
        InputError: the text column is missing (the message names the columns present), is not
            a text column, holds a value that is not a text, or the frame already has a column
            zslabel adds.
        ConfigError: ``labels`` or an option is invalid (the message names the key), a key that
            label_frame manages is given (``input.path``, ``output.dir``: use ``out=``;
            ``output.cache_dir``, ``output.work_dir``: use ``cache_dir=``), or a shortcut is
            given with ``sources=``.
        ModelError: the model cannot be resolved or loaded.
        OutputError: ``out`` or ``cache_dir`` cannot be written.
    """
    import pandas as pd

    if text_column is None:
        name = frame.name if isinstance(frame, pd.Series) else None
        text_column = name if isinstance(name, str) and name else "text"
    data = as_frame(frame, text_column)
    if len(data) == 0:
        raise InputError("the frame has no rows; there is nothing to label")
    _check_no_added_columns(data, scores)
    added = _labels_of(data, labels, text_column, out, cache_dir, scores, progress, options)
    added.index = data.index
    return pd.concat([data, added], axis=1)


def _labels_of(
    data: pd.DataFrame,
    labels: Any,
    text_column: str,
    out: str | Path | None,
    cache_dir: str | Path | None,
    scores: bool,
    progress: bool,
    options: dict[str, Any],
) -> pd.DataFrame:
    """Run the job on ``data`` in a scratch folder; the added ``zs_*`` columns, in row order."""
    with tempfile.TemporaryDirectory(prefix="zslabel-frame-") as scratch:
        folder = Path(scratch)
        # Absolute, as job files' paths are: the manifest records it, whatever the cwd.
        output_dir = Path(out).expanduser().resolve() if out is not None else folder / "out"
        if cache_dir is None and out is None:
            cache_dir = folder / "cache"  # nothing is left on disk
        config = frame_job(
            labels,
            folder / INPUT_FILE,
            output_dir,
            text_column=text_column,
            cache_dir=cache_dir,
            **options,
        )
        # Without out=, only the columns the job reads go to disk: any pandas column (objects
        # Parquet cannot hold) comes back as it went in.
        wanted = [text_column]
        if config.input.id_column is not None:
            wanted.append(config.input.id_column)
        _write_input(data if out is not None else data[_present(data, wanted)], config)
        # Imported here: the pipeline imports the sources, and those import torch.
        from zslabel.pipeline.run import run_job
        from zslabel.pipeline.write import LABELED

        try:
            result = run_job(config, progress=progress)
        except ZslabelError as exc:
            # The temporary input file is no name the caller knows: call it the frame.
            raise type(exc)(str(exc).replace(config.input.path, "the frame")) from None
        _warn_as_the_summary_does(result)
        names = [*ADDED[:1], *([columns.LABELS] if config.multi_label else []), *ADDED[1:]]
        if scores:
            names += [columns.score_column(name) for name in config.label_names]
        labeled = pq.read_table(result.output_dir / LABELED, columns=[columns.ROW, *names])
    # Rows come back in input order (zs_row is the row's position); sorted to be sure.
    labeled = labeled.sort_by(columns.ROW)
    added: pd.DataFrame = labeled.drop_columns([columns.ROW]).to_pandas()
    return added


def _warn_as_the_summary_does(result: Any) -> None:
    """Each warning line of the run's summary as a :class:`ZslabelWarning`: a notebook prints
    no summary, and a class of three accepted rows or a label kept at its prompts should not
    pass unseen (a new user's trial)."""
    from zslabel.summary import format_run, warning_lines

    for text in warning_lines(format_run(result)):
        # stacklevel 4: label_frame's caller (here, _labels_of, label_frame, the caller).
        warnings.warn(text, ZslabelWarning, stacklevel=4)


def as_frame(frame: Any, text_column: str) -> pd.DataFrame:
    """``frame`` as a DataFrame with a text column ``text_column``; a sequence of texts
    becomes a one-column frame. Raises TypeError for a single string or a non-sequence, and
    InputError when the text column is missing or holds values that are not texts."""
    import pandas as pd

    if not isinstance(text_column, str):
        raise TypeError(f"text_column must be a column name (str), got {text_column!r}")
    if isinstance(frame, pd.DataFrame):
        data = frame
    elif isinstance(frame, str | bytes):
        raise TypeError(
            "frame is a single string; pass a DataFrame or a list of texts (e.g. [text])"
        )
    elif isinstance(frame, pd.Series):
        data = pd.DataFrame({text_column: frame.to_numpy(dtype=object)}, index=frame.index)
    elif isinstance(frame, Iterable) and not isinstance(frame, Mapping):
        values = list(frame)
        if values and hasattr(values[0], "__len__") and not isinstance(values[0], str | bytes):
            shape = getattr(frame, "shape", None)
            raise TypeError(
                "frame must be a DataFrame or a 1-d sequence of texts; got a sequence of "
                f"{type(values[0]).__name__}" + (f" (shape {shape})" if shape else "")
            )
        data = pd.DataFrame({text_column: pd.Series(values, dtype=object)})
    else:
        raise TypeError(
            f"frame must be a pandas DataFrame or a sequence of texts, got {type(frame).__name__}"
        )
    if text_column not in data.columns:
        raise InputError(
            f"text column {text_column!r} is not in the frame; its columns are "
            f"{[str(c) for c in data.columns]} (pass text_column=...)"
        )
    if list(data.columns).count(text_column) > 1:
        raise InputError(f"the frame has more than one column named {text_column!r}")
    _check_texts(data[text_column], text_column)
    return data


def _check_texts(values: pd.Series, text_column: str) -> None:
    """Every value a text, None or NaN; names the first that is not."""
    import pandas as pd

    for position, value in enumerate(values.to_numpy(dtype=object)):
        if value is None or isinstance(value, str):
            continue
        if (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
            continue
        raise InputError(
            f"column {text_column!r}, row {position} (counting from 0): expected a text (str) "
            "or a null, "
            f"got {type(value).__name__} {value!r:.60}"
        )


def _check_no_added_columns(data: pd.DataFrame, scores: bool) -> None:
    clash = sorted(str(c) for c in data.columns if str(c) in ADDED or str(c) == columns.LABELS)
    if scores:
        clash += sorted(str(c) for c in data.columns if str(c).startswith(columns.SCORE_PREFIX))
    if clash:
        raise InputError(
            f"the frame already has column(s) {clash} that label_frame adds; rename or drop them"
        )


def _present(data: pd.DataFrame, wanted: list[str]) -> list[str]:
    missing = [name for name in wanted if name not in data.columns]
    if missing:
        raise InputError(
            f"column(s) {missing} named by the options are not in the frame; its columns are "
            f"{[str(c) for c in data.columns]}"
        )
    return wanted


def frame_job(
    labels: Any,
    input_path: Path,
    output_dir: Path,
    *,
    text_column: str = "text",
    cache_dir: str | Path | None = None,
    origin: str = "label_frame",
    **options: Any,
) -> JobConfig:
    """A validated job over ``input_path`` into ``output_dir`` from label_frame's arguments.

    Raises ConfigError naming the option that is invalid or that label_frame manages.
    """
    raw: dict[str, Any] = {"labels": labels}
    shortcuts = {k: options.pop(k) for k in SOURCE_SHORTCUTS if k in options}
    for key, why in _REFUSED.items():
        if key in options:
            raise ConfigError(f"option {key!r} is not available here: {why}")
    for section, managed in _MANAGED.items():
        given = options.pop(section, None) or {}
        if not isinstance(given, Mapping):
            raise ConfigError(f"option {section!r} must be a dict of job-file keys, got {given!r}")
        for key in managed:
            if key in given:
                raise ConfigError(f"option {section}.{key} is set by label_frame; {_INSTEAD[key]}")
        raw[section] = dict(given)
    if "text_column" in raw["input"] and raw["input"]["text_column"] != text_column:
        raise ConfigError("give the text column as text_column=..., not input.text_column")
    raw["input"].update(path=str(input_path), text_column=text_column)
    raw["output"]["dir"] = str(output_dir)
    if cache_dir is not None:
        # Absolute, as job files' paths are: the manifest records it, whatever the cwd.
        raw["output"]["cache_dir"] = str(Path(cache_dir).expanduser().resolve())
    if shortcuts:
        if "sources" in options:
            raise ConfigError(
                f"option(s) {sorted(shortcuts)} configure the default embedding source; with "
                "sources=[...] put them in the source instead"
            )
        options["sources"] = [{"kind": "embedding", **shortcuts}]
    raw.update(options)
    return JobConfig.from_dict(raw, origin=origin)


def _write_input(data: pd.DataFrame, config: JobConfig) -> None:
    """``data`` as the job's Parquet input, with string column names and no index."""
    try:
        table = pa.Table.from_pandas(data, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
        raise InputError(f"the frame cannot be written as Parquet: {exc}") from None
    text = config.input.text_column
    kind = table.schema.field(text).type
    if pa.types.is_dictionary(kind) and _is_text(kind.value_type):  # a categorical column
        table = table.set_column(
            table.schema.get_field_index(text), text, table.column(text).cast(pa.string())
        )
        kind = pa.string()
    if not (_is_text(kind) or pa.types.is_null(kind)):
        raise InputError(f"column {text!r}: expected texts (str), got {kind}")
    if pa.types.is_null(kind):  # every text is null: still a text column
        table = table.set_column(
            table.schema.get_field_index(text), text, pa.nulls(len(table), pa.string())
        )
    pq.write_table(table, config.input.path)


def _is_text(kind: pa.DataType) -> bool:
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))
