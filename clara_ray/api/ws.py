"""Shared WebSocket pump: long-poll a backend's event log and forward events as they happen, with heartbeats."""

from __future__ import annotations

import asyncio
from typing import Callable

from fastapi import WebSocket, WebSocketDisconnect


async def pump_events(ws: WebSocket, backend, after: int | None, keep: Callable[[dict], bool] = lambda e: True) -> None:
    """`backend` has async `last_seq()` and `wait_events(after, timeout)`; sends each kept event, a heartbeat when idle."""
    if backend is None:  # this API runs without that backend: refuse with "try again later", not a stack trace
        await ws.close(code=1013, reason="this event stream is not configured on this API")
        return
    await ws.accept()
    seq = after if after is not None else await backend.last_seq()
    try:
        while True:
            events = await backend.wait_events(seq, 15.0)
            for e in events:
                seq = e["seq"]
                if keep(e):
                    await ws.send_json(e)
            if not events:
                await ws.send_json({"type": "heartbeat", "seq": seq})
    except (WebSocketDisconnect, asyncio.CancelledError, RuntimeError):
        return
