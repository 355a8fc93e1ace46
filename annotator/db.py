"""sqlite-utils, imported without pandas and numpy.

sqlite-utils imports pandas and numpy when they are installed (they are: scikit-posthocs and
scikit-learn need them), only to map their types to SQL column types, which annotator never
stores. That costs about a second at every start of the coding screen (measured:
benchmarks/bench_coding.py), so they are hidden from it while it imports. Commands that need
them (merge, report) import them later as usual.
"""

from __future__ import annotations

import sys

if "sqlite_utils" not in sys.modules:
    _hidden = [name for name in ("pandas", "numpy") if name not in sys.modules]
    for _name in _hidden:
        sys.modules[_name] = None  # type: ignore[assignment]  # makes `import` raise ImportError
    try:
        import sqlite_utils  # noqa: E402
    finally:
        for _name in _hidden:
            if sys.modules.get(_name, 0) is None:
                del sys.modules[_name]

import sqlite_utils  # noqa: E402,F811
from sqlite_utils import Database, Migrations  # noqa: E402

__all__ = ["sqlite_utils", "Database", "Migrations"]
