"""Errors of account management, each with the HTTP status a client should see."""

from __future__ import annotations


class AccountError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
