"""Domain errors carry their HTTP status; one handler renders ``{"error": {"code", "message"}}``.

Service code raises these and never imports the web framework.
"""

from __future__ import annotations


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class Unauthorized(DomainError):
    status, code = 401, "unauthorized"


class Forbidden(DomainError):
    status, code = 403, "forbidden"


class NotFound(DomainError):
    status, code = 404, "not_found"


class Conflict(DomainError):
    status, code = 409, "conflict"


class InvalidTransition(Conflict):
    code = "invalid_status"


class PayloadTooLarge(DomainError):
    status, code = 413, "payload_too_large"


class InvalidInput(DomainError):
    status, code = 422, "invalid_input"


class RateLimited(DomainError):
    status, code = 429, "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SchemaOutOfDate(RuntimeError):
    """The database schema is behind the code; the message says what to run."""
