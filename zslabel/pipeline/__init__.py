"""One labeling job as a list of stages, one module each, run in this order::

    plan -> score (per shard, cached) -> refine -> reviews -> calibrate -> combine -> predict
         -> select -> split -> decisions -> write (export) -> manifest -> write (commit)

Each stage is a function of the :class:`~zslabel.pipeline.plan.JobPlan` and of earlier stages'
outputs (plain arrays and small frozen records); none reaches into another's state. What the
manifest says about a stage comes from the record that stage returned.
:func:`zslabel.runner.run_job` and the ``label-dataset`` Prefect flow call the stages in order.
"""
