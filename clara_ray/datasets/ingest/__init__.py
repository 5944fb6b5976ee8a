"""Corpus ingest pipeline (see pipeline.py): readers -> stages (Ray Data) -> writer (driver)."""

from clara_ray.datasets.ingest.pipeline import IngestOptions, run_ingest

__all__ = ["IngestOptions", "run_ingest"]
