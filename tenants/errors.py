"""The one error type a user's mistake becomes: a list of located problems."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

_BRIEF = 100


@dataclass(frozen=True)
class Problem:
    file: str
    line: Optional[int]
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(Exception):
    """Raised for any mistake in the tenants file or stack config; carries every problem found."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class Brief:
    """A value as an error message shows it: its repr, on one line, cut to a readable length."""

    def __init__(self, value: Any):
        self.value = value

    def __repr__(self) -> str:
        try:
            text = repr(self.value)
        except Exception:  # a repr that fails (or recurses forever) must not hide the error itself
            text = f"<{type(self.value).__name__}>"
        return text if len(text) <= _BRIEF else text[: _BRIEF - 3] + "..."

    __str__ = __repr__
