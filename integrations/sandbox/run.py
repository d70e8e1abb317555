"""Serving the sandbox: every provider's emulator behind one HTTP server."""

import threading

from .close import CloseEmulator
from .contactship import ContactshipEmulator
from .getraze import GetRazeEmulator
from .klen import KlenEmulator
from .server import SandboxServer

EMULATORS = (GetRazeEmulator, ContactshipEmulator, KlenEmulator, CloseEmulator)


def make_server(host: str = "127.0.0.1", port: int = 8001, **options) -> SandboxServer:
    keys = options.get("api_keys") or {"sandbox-key": GetRazeEmulator.DEFAULT_PERMISSIONS}
    # Every provider accepts the same keys; each reads the permissions it knows (see Klen).
    emulators = {emulator.name: emulator(keys) for emulator in EMULATORS}
    # `state_path`: a file the records are kept in across restarts (none: memory only).
    return SandboxServer((host, port), emulators, state_path=options.get("state_path"))


def start_in_thread(host: str = "127.0.0.1", port: int = 0, **options) -> SandboxServer:
    """Start a sandbox in a daemon thread (port 0: any free port); stop with .shutdown()."""
    server = make_server(host, port, **options)
    threading.Thread(target=server.serve_forever, name="sandbox", daemon=True).start()
    return server
