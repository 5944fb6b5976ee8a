"""Deterministic generator for the committed German administrative-law corpus."""
