"""The gRPC service's life within the app's: started with it when ``VISION_GRPC_PORT`` is
set, stopped with it. grpcio and grpcio-tools are the optional ``grpc`` extra, so they are
imported only then, and their absence is a start-up error saying what to install."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from service.api.context import AppContext

GRACE_S = 2.0  # calls in flight at shutdown get this long to finish


@asynccontextmanager
async def grpc_server(context: AppContext) -> AsyncIterator[None]:
    """Serve gRPC for the duration of the block, if a port is configured."""
    if context.settings.grpc_port is None:
        yield
        return
    try:
        from service.api.oip.grpc_service import start_grpc
    except ImportError as exc:
        raise RuntimeError(
            "VISION_GRPC_PORT is set but gRPC is not installed: "
            f"pip install 'vision-service[grpc]' ({exc})"
        ) from exc
    server = await start_grpc(context)
    try:
        yield
    finally:
        await server.stop(GRACE_S)
