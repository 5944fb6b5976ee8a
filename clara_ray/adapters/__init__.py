"""Adapters: the store holding their files and the registry of immutable versions and aliases."""
