"""Prefect flows over the zslabel library: they orchestrate, the library computes."""
