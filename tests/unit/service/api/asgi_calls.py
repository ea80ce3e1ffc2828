"""Calling an app straight through ASGI, to see how much of a streamed body it read."""

from __future__ import annotations

import asyncio
from typing import Any


def run_asgi(
    app: Any, headers: list[tuple[bytes, bytes]], chunks: list[bytes], path: str = "/detect"
) -> tuple[list[dict[str, Any]], int]:
    """POST ``path`` with ``chunks`` as the body; the messages sent back and the chunks
    consumed."""
    consumed = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal consumed
        if consumed < len(chunks):
            consumed += 1
            return {
                "type": "http.request",
                "body": chunks[consumed - 1],
                "more_body": consumed < len(chunks),
            }
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 1234),
        "server": ("127.0.0.1", 8000),
    }
    asyncio.run(app(scope, receive, send))
    return sent, consumed
