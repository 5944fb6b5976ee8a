"""The closed loop: feedback quality, the durable buffer, triggers, the retrain-evaluate-gate cycle."""
