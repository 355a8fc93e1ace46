"""Rendering for the command line: rich tables and trees of what the core returns."""
