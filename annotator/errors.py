"""The one exception a user sees: a clear message, exit status 2, no traceback."""

from __future__ import annotations


class UserError(Exception):
    """Bad input or a refused operation, explained to the user.

    The CLI prints ``str(error)`` to stderr and exits with status 2. Messages name the
    file, line or field at fault and say what to do.
    """

    exit_code = 2

    def __init__(self, message: str, *, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = problems or []

    def __str__(self) -> str:  # pragma: no cover - trivial
        base = super().__str__()
        if self.problems:
            return "\n".join([base, *self.problems]) if base else "\n".join(self.problems)
        return base
