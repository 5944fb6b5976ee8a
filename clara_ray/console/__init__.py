"""Web console: a no-build single-page app served by the API deployment (same origin, same auth)."""
