"""Training data: record validation and quality checks (pure) and the Ray Data preparation pipeline."""
