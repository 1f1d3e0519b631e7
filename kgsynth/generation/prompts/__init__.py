"""Prompt templates and sampling settings (data files, not code)."""
