"""`ray job submit` entrypoints (python -m jobs.<name>)."""
