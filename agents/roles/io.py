"""Reading what a URI points to (a job spec, a result) without stalling the agent's event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def read_uri(reader: Callable, uri: str, *args):
    """`reader(uri, *args)`, inline for local files (a thread hop costs more than the read) and on a worker
    thread for anything that goes over the network."""
    if uri.startswith("file://"):
        return reader(uri, *args)
    return await asyncio.to_thread(reader, uri, *args)
