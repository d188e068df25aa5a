"""zslabel: bootstrap labeled training data from raw Parquet with zero-shot classifiers."""

__version__ = "0.1.0"
