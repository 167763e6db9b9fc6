"""The HTTP server process: uvicorn, draining gracefully on SIGTERM / SIGINT."""

from __future__ import annotations

from types import FrameType

import uvicorn
from starlette.applications import Starlette


class DrainingServer(uvicorn.Server):
    """Turns /readyz false the moment it is asked to stop.

    uvicorn then closes its listening sockets (new connections are refused) and lets in-flight
    requests finish within `timeout_graceful_shutdown`; a load balancer watching /readyz has already
    stopped sending new ones. The process then exits 0.
    """

    def __init__(self, config: uvicorn.Config, application: Starlette) -> None:
        super().__init__(config)
        self.application = application

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.application.state.draining = True
        super().handle_exit(sig, frame)
