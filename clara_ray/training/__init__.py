"""Training: job request schema, data-to-adapter pipeline, Ray Train loop and the job manager."""
