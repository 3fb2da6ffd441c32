"""Datasets: a registry with checksums and official URLs (``sources``), one loader module per dataset, splits."""

from facekit.data.sources import DataError, Dataset, all_datasets, ensure, fetch, get, status

__all__ = ["DataError", "Dataset", "all_datasets", "ensure", "fetch", "get", "status"]
