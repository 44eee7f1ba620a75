"""What the case system refuses, with the HTTP status it maps to and details for the problem document."""

from __future__ import annotations

from typing import Any


class CaseError(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.extra = extra
