"""annotator: a terminal tool for qualitative studies of GitHub issues."""

__version__ = "0.1.0"
