"""The flow's optional ``train-student`` task: a student for each version, after its outputs.

On when the job has a ``student:`` section. It is ``zslabel train`` on the output folder just
written (the model in ``student/model``, its figures in ``student/metrics.json``), with the
sentence embeddings of the shared cache, so a retry or the next version embeds only new texts.

Its failure leaves the flow run Completed, with a warning in the log and in the ``student``
artifact: the labeled version is written and recorded by then, and a Failed run would claim the
labeling failed. Retrying the whole run would not help either: for an incremental job the
version is recorded, so a rerun finds no new file and never reaches this task; ``zslabel train
DIR`` retrains by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zslabel.flows import environment

environment.configure()

from prefect import State, get_run_logger, task  # noqa: E402 - settings must come first
from prefect.artifacts import create_markdown_artifact  # noqa: E402
from prefect.cache_policies import NONE  # noqa: E402
from prefect.tasks import exponential_backoff  # noqa: E402

from zslabel.config import JobConfig  # noqa: E402
from zslabel.errors import ZslabelError  # noqa: E402
from zslabel.redact import redact  # noqa: E402


def _is_transient(task: Any, task_run: Any, state: State[Any]) -> bool:
    """Retry crashes and I/O hiccups, not errors that say the job or its data is wrong."""
    return not isinstance(state.result(raise_on_failure=False), ZslabelError)


@task(
    name="train-student",
    retries=2,
    retry_delay_seconds=exponential_backoff(backoff_factor=5),
    retry_condition_fn=_is_transient,
    cache_policy=NONE,
)
def train_student(output_dir: str) -> dict[str, Any]:
    """Train the job's student on ``output_dir``; returns its metrics.json. Raises what
    :func:`zslabel.student.train` raises."""
    from zslabel.student import job_student_spec, train

    result = train(output_dir, job_student_spec(output_dir))
    metrics: dict[str, Any] = result.metrics
    return metrics


def run_student(config: JobConfig, output_dir: str, artifact_key: str) -> dict[str, Any] | None:
    """Train the student when ``config`` has a ``student`` section: the metrics, or ``{"error":
    message}`` when training failed after its retries (logged as a warning); None when off."""
    if config.student is None:
        return None
    logger = get_run_logger()
    outcome = train_student(output_dir, return_state=True)
    student = Path(output_dir) / "student"
    if outcome.is_completed():
        metrics: dict[str, Any] = outcome.result()
        logger.info("Student trained: %s", student)
        create_markdown_artifact(
            f"Student trained on `{output_dir}`: model in `{student / 'model'}`, figures in "
            f"`{student / 'metrics.json'}`.",
            key=artifact_key,
            description="the student model trained on this version",
        )
        return metrics
    error = redact(str(outcome.result(raise_on_failure=False)))
    logger.warning("Student training failed; the labeled version is kept: %s", error)
    create_markdown_artifact(
        f"**Student training failed**; the labeled version in `{output_dir}` is kept. "
        f"Retrain with `zslabel train {output_dir}`.\n\n{error}",
        key=artifact_key,
        description="the student model trained on this version",
    )
    return {"error": error}
