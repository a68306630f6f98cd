"""The exceptions the client raises. Every one derives from BrigError, and
also from the built-in exception a caller would naturally catch for it."""
from __future__ import annotations

from typing import Optional


class BrigError(Exception):
    """Anything that went wrong in the brig client."""


class BrokerNotFound(BrigError, LookupError):
    """No broker was given and no embedded broker published its address."""


class BrokerUnreachable(BrigError, ConnectionError):
    """The Kafka broker did not answer in time."""


class InvalidJob(BrigError, ValueError):
    """A job the client refuses to send; field names the culprit
    ("limits.wall_ms", "env[\"PATH\"]"), empty for the job as a whole."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field = field
        self.reason = reason


class SchemaError(BrigError, ValueError):
    """A message from Kafka that breaks the wire schema; field as in
    InvalidJob."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field = field
        self.reason = reason


class JobTimeout(BrigError, TimeoutError):
    """The answer did not come in time. job_id says which job, so that the
    caller can wait for it again (client.wait) when the job is still
    watched."""

    def __init__(self, message: str, job_id: Optional[str] = None) -> None:
        super().__init__(message)
        self.job_id = job_id


class ClientClosed(BrigError):
    """The client was closed, or its consumer thread stopped on an error."""
