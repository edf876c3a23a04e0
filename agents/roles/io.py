"""Blocking work (reading what a URI points to, publishing a file, running a job) without stalling the agent's
event loop where it must not stall."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def read_uri(reader: Callable, uri: str, *args):
    """`reader(uri, *args)`, inline for local files (a thread hop costs more than the read) and on a worker
    thread for anything that goes over the network."""
    if uri.startswith("file://"):
        return reader(uri, *args)
    return await asyncio.to_thread(reader, uri, *args)


async def blocking(inline: bool, function: Callable, *args, executor=None):
    """`function(*args)` on a worker thread (`executor`, by default asyncio's), so that a live agent keeps
    reacting while it runs; or `inline` (AgentConfig.work_inline), where nothing else is meant to run meanwhile:
    a stepped market in memory runs its agents one at a time in a fixed order, its store is local and its jobs
    are cached, so a thread hop costs more than the work, and only makes when the work ends depend on the load."""
    if inline:
        return function(*args)
    return await asyncio.get_running_loop().run_in_executor(executor, function, *args)
