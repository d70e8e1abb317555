"""Local emulation of the providers' APIs, for development, demos and tests."""

import threading

from .server import SandboxServer, make_server

__all__ = ["SandboxServer", "make_server", "start_in_thread"]


def start_in_thread(host: str = "127.0.0.1", port: int = 0, **options) -> SandboxServer:
    """Start a sandbox in a daemon thread (port 0: any free port); stop with .shutdown()."""
    server = make_server(host, port, **options)
    threading.Thread(target=server.serve_forever, name="sandbox", daemon=True).start()
    return server
