"""Domain errors. Service functions raise these; views turn them into answers."""
from __future__ import annotations


class DomainError(Exception):
    """A request that breaks a rule. `field` names the form field at fault, if any."""

    status = 400

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(DomainError):
    status = 404


class Forbidden(DomainError):
    status = 403


class Conflict(DomainError):
    status = 409


class Gone(DomainError):
    """A one-use link that was used, revoked or has expired."""

    status = 410
