"""An RPC proxy between the agents and the node, which a scenario can switch off to simulate an outage.
It listens on 127.0.0.1 only and forwards JSON-RPC bodies unchanged."""

from __future__ import annotations

import aiohttp
from aiohttp import web


class FaultyRPCProxy:
    def __init__(self, upstream: str):
        self.upstream = upstream
        self.down = False
        self.refused = 0  # requests answered with an error during outages
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.url = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self._session = aiohttp.ClientSession()
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def _forward(self, request: web.Request) -> web.Response:
        if self.down:
            self.refused += 1
            return web.Response(status=503, text="node unavailable (simulated outage)")
        body = await request.read()
        async with self._session.post(self.upstream, data=body, headers={"Content-Type": "application/json"}) as up:
            return web.Response(body=await up.read(), status=up.status, content_type="application/json")

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()
