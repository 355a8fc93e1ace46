"""Typing a code as keys: its key, or a theme's key then a sub-code's key (a chord).

The coding screen and the reconcile screen's edit mode both read code keys through a Chord,
so a key means the same thing on both. Enter in a chord takes the theme itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from annotator.codebook.model import Code


@dataclass
class Pressed:
    kind: str  # "code": apply it; "chord": the chord goes on; "unknown": no code has that key
    dimension: str | None = None
    code: Code | None = None


@dataclass
class Chord:
    dimension: str | None = None
    path: list[Code] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.path)

    def clear(self) -> None:
        self.path = []

    def press(self, character: str, top: list[tuple[str, Code]]) -> Pressed:
        """Read one key: ``top`` holds the (dimension, code) pairs a chord starts from."""
        choices = [(self.dimension, c) for c in self.path[-1].children] if self.path else top
        found = next(((d, c) for d, c in choices if c.key == character and not c.retired), None)
        if found is None:
            return Pressed("unknown")
        self.dimension, code = found
        if code.children:
            self.path.append(code)
            return Pressed("chord", self.dimension, code)
        self.path = []
        return Pressed("code", self.dimension, code)

    def finish(self) -> tuple[str, Code]:
        """Enter: the chord's own code (the theme itself)."""
        code = self.path[-1]
        self.path = []
        return self.dimension, code
