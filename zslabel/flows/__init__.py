"""Prefect flows over the zslabel library: they orchestrate, the library computes.

The only package of zslabel that imports Prefect (``pip install 'zslabel[flows]'``). The flow's
entrypoint for a ``prefect.yaml`` anywhere is the module path
``zslabel.flows.label_dataset.label_dataset``.
"""
