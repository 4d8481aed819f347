"""The SQS client of the event source: long-poll receive and batch delete, nothing else.

Built by exporter.aws.session like every client (errors classified into ApiError with
the same outcome labels), so the event source knows no boto types.
The endpoint is the queue URL's own scheme and host: that is SQS's endpoint for the
queue's region on AWS (and an interface VPC endpoint's when one is used), and the local
server's in tests and the demo, so --endpoint-url (a SageMaker override) never has to
serve SQS too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from exporter.aws.errors import ApiError, classify_error
from exporter.aws.session import AwsSettings, client_config, new_session

WAIT_SECONDS = 20  # SQS's longest long poll: the fewest empty receives while idle
BATCH = 10  # SQS's largest batch, for receive and delete alike
_REGION_IN_HOST = re.compile(r"(?:^|\.)(?:sqs\.)?([a-z]{2}(?:-[a-z]+)+-\d+)\.")


@dataclass(frozen=True, slots=True)
class Message:
    message_id: str
    receipt_handle: str
    body: str


def queue_endpoint(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"bad SQS queue URL {url!r} (want https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)"
        )
    return f"{parts.scheme}://{parts.netloc}"


def queue_region(url: str, default: str) -> str:
    """The region in the queue URL's host (sqs.REGION.amazonaws.com, the legacy
    REGION.queue.amazonaws.com), else `default`."""
    m = _REGION_IN_HOST.search(urlsplit(url).hostname or "")
    return m.group(1) if m else default


class SqsQueue:
    """One queue; an async context manager. Credentials: the default chain, or the
    explicit ones the demo passes."""

    def __init__(
        self,
        url: str,
        region: str,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> None:
        self.url = url
        self.region = queue_region(url, region)
        self._endpoint = queue_endpoint(url)
        self._creds = (access_key_id, secret_access_key)
        self._stack = AsyncExitStack()
        self._client: Any = None

    async def __aenter__(self) -> SqsQueue:
        key, secret = self._creds
        settings = AwsSettings(access_key_id=key, secret_access_key=secret)
        config = client_config(
            self.region,
            settings,
            connect_timeout=5,
            # Longer than the long poll, or every idle receive would time out.
            read_timeout=WAIT_SECONDS + 10,
            # The receive loop backs off and retries itself; botocore's retries would only
            # hide an outage from events_up for longer.
            attempts=2,
            pool=32,
        )
        self._client = await self._stack.enter_async_context(
            new_session(settings).create_client("sqs", endpoint_url=self._endpoint, config=config)
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    async def receive(self, wait_seconds: int = WAIT_SECONDS) -> list[Message]:
        try:
            resp = await self._client.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=BATCH,
                WaitTimeSeconds=wait_seconds,
            )
        except Exception as exc:
            raise classify_error("ReceiveMessage", exc) from exc
        out = []
        for m in resp.get("Messages") or []:
            handle, body = m.get("ReceiptHandle"), m.get("Body")
            if isinstance(handle, str) and isinstance(body, str):
                out.append(Message(str(m.get("MessageId", "")), handle, body))
        return out

    async def delete(self, messages: Sequence[Message]) -> int:
        """Delete up to BATCH messages; the number SQS refused (they come back later and
        are then stale, so a refusal costs a redelivery, not a wrong metric)."""
        if not messages:
            return 0
        entries = [
            {"Id": str(i), "ReceiptHandle": m.receipt_handle} for i, m in enumerate(messages)
        ]
        try:
            resp = await self._client.delete_message_batch(QueueUrl=self.url, Entries=entries)
        except Exception as exc:
            raise classify_error("DeleteMessageBatch", exc) from exc
        failed = resp.get("Failed") or []
        if not isinstance(failed, list):
            raise ApiError(
                "DeleteMessageBatch", "server_error", "MalformedResponse", "no Failed list"
            )
        return len(failed)
