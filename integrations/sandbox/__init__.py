"""Local emulation of the providers' APIs, for development, demos and tests."""

from .run import make_server, start_in_thread
from .server import SandboxServer

__all__ = ["SandboxServer", "make_server", "start_in_thread"]
