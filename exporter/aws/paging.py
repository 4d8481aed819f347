"""The one NextToken loop: every paged AWS call in the exporter goes through `pages()`.

Two rules learned the hard way: a page whose item list is missing is a malformed answer
(botocore turns a garbled 200 body into an empty dict; trusting it would silently end the
listing and lose every item on the later pages), and pages can be empty while a token
remains, so only a missing token ends the list.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from exporter.aws.errors import malformed

#: A guard against a server that hands out tokens forever.
MAX_PAGES = 10_000

Call = Callable[..., Awaitable[Mapping[str, Any]]]


async def pages(
    call: Call,
    operation: str,
    items_key: str,
    params: Mapping[str, Any],
    *,
    page_size: int | None = 100,
    required: bool = True,
) -> AsyncIterator[list[Any]]:
    """The items of each page of `call(**params)`, a page at a time, until no NextToken.

    required=False: an answer without `items_key` is a page of no items (APIs that leave
    an empty list out)."""
    token: str | None = None
    for _ in range(MAX_PAGES):
        req = dict(params)
        if page_size is not None:
            req["MaxResults"] = page_size
        if token:
            req["NextToken"] = token
        page = await call(**req)
        items = page.get(items_key)
        if items is None and not required:
            items = []
        if not isinstance(items, list):
            raise malformed(operation, items_key)
        yield items
        token = page.get("NextToken") or None
        if not token:
            return


async def collect(
    call: Call, operation: str, items_key: str, params: Mapping[str, Any], **kw: Any
) -> list[Any]:
    """Every item of every page."""
    return [item async for page in pages(call, operation, items_key, params, **kw) for item in page]
