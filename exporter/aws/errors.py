"""What an AWS call's failure is: one ApiError with an outcome label, from any service.

The outcome (`throttled`, `client_error`, `server_error`, `network_error`) is the label of
`sagemaker_exporter_api_requests_total` and decides the retry: a throttle is paced by the
discovered rate, a server or network error backs off, a client error is final.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

THROTTLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "SlowDown",
        "ProvisionedThroughputExceededException",
    }
)
NOT_FOUND_CODES = frozenset(
    {"ValidationException", "ResourceNotFound", "ResourceNotFoundException"}
)
ACCESS_DENIED_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "NotAuthorized"}
)
BACKOFF_BASE, BACKOFF_CAP = 0.2, 5.0


class ApiError(Exception):
    """An AWS call that failed after retries; `outcome` is its self-metric outcome."""

    def __init__(self, operation: str, outcome: str, code: str, message: str) -> None:
        super().__init__(f"{operation}: {code}: {message}")
        self.operation, self.outcome, self.code = operation, outcome, code

    @property
    def access_denied(self) -> bool:
        return self.code in ACCESS_DENIED_CODES

    @property
    def not_found(self) -> bool:
        """The resource asked for does not exist (any more). AWS says "Requested resource
        not found."; moto "Could not find training job"; both as ValidationException."""
        text = str(self).lower()
        return self.code in NOT_FOUND_CODES and ("not found" in text or "could not find" in text)


class JobNotFound(Exception):
    """A Describe call says the job does not exist (any more)."""


def malformed(operation: str, what: str) -> ApiError:
    """A 200 answer without a field it must have: the server's fault, never "no items"."""
    return ApiError(operation, "server_error", "MalformedResponse", f"response has no {what}")


def _garbled(parsed: Any, operation: Any) -> bool:
    """botocore parses a 200 body that is not JSON (an HTML page from a proxy, a body cut
    short) to a dict without any modeled field instead of raising; an answer that should
    have required fields but has none of its fields is that."""
    shape = getattr(operation, "output_shape", None)
    if shape is None or not shape.required_members or not isinstance(parsed, dict):
        return False
    return not any(name in parsed for name in shape.members)


def error_outcome(code: str, status: int) -> str:
    """The outcome label of an answer that carries an error code or an error status."""
    if code in THROTTLE_CODES or status == 429:
        return "throttled"
    return "server_error" if status >= 500 else "client_error"


def classify_attempt(response: Any, caught_exception: Any, operation: Any = None) -> str:
    """The outcome label of one HTTP attempt, from botocore's needs-retry arguments."""
    if caught_exception is not None or not response:
        return "network_error"
    http, parsed = response
    status = getattr(http, "status_code", 200)
    code = (parsed or {}).get("Error", {}).get("Code", "") if isinstance(parsed, dict) else ""
    if code or status >= 400:
        return error_outcome(code, status)
    if _garbled(parsed, operation):
        return "server_error"
    return "ok"


def classify_error(operation: str, exc: Exception) -> ApiError:
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code, msg = str(err.get("Code", "")), str(err.get("Message", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return ApiError(operation, error_outcome(code, status), code or str(status), msg)
    if isinstance(exc, BotoCoreError | OSError | asyncio.TimeoutError):
        return ApiError(operation, "network_error", type(exc).__name__, str(exc))
    # A malformed response body surfaces as some parser exception: still the API's fault.
    return ApiError(operation, "server_error", type(exc).__name__, str(exc))


def backoff(attempt: int) -> float:
    """Full-jitter exponential backoff before retry number `attempt` (1, 2, ...)."""
    return random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1)))
