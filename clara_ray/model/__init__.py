"""Base models: the bundled tiny Llama (built locally, no hub) and resolution of configured models."""
