"""HTTP API (FastAPI): routes per capability, one permission dependency, error mapping. Hosted by Ray Serve."""
