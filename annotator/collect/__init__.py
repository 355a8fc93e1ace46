"""Collect: fetch issues from GitHub, import dumps, keep them in the corpus (corpus.db)."""
