"""HDF5 feature store: one features.h5 per run, written as pairs complete, resumable."""

from staticdyn.store.h5 import FeatureStore

__all__ = ["FeatureStore"]
