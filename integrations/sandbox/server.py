"""A local HTTP server that behaves like the providers' documented APIs, with fault knobs.

Each provider is served under its own prefix (GetRaze: /getraze/external/v1/…), so one sandbox
stands in for all of them. Control endpoints, under /__sandbox__/<provider>/:
    POST faults    set knobs (JSON object; see Faults), answered with the knobs now in force
    POST reset     forget every contact, request and fault
    POST keys      {"key": "...", "permissions": [...]} adds an API key
    GET requests   the requests received (method, path, query, body; never the key)
    GET contacts   the stored contacts
No Django here: the sandbox is stdlib only, so it can run without the project's database.
"""

import json
import logging
import random
import threading
import time
from dataclasses import asdict, dataclass, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

logger = logging.getLogger(__name__)

CONTROL = "/__sandbox__/"


@dataclass
class Faults:
    latency: float = 0.0  # seconds added to every answer
    error_rate: float = 0.0  # share of requests answered `error_status` at random
    error_status: int = 500
    fail_next: int = 0  # the next N provider requests are answered `error_status`
    timeout_next: int = 0  # the next N requests get no answer for `timeout_seconds`, unapplied
    timeout_seconds: float = 5.0
    drop_after_create_next: int = 0  # the next N creates are stored, then the connection is cut
    rate_limit: int = 0  # requests per key per window; 0 = unlimited
    rate_window: int = 3600  # seconds; GetRaze's window is the clock hour
    retry_after_header: bool = False  # add Retry-After to a 429 (GetRaze itself does not)
    unique_email: bool = True  # 409 on a duplicate email (the docs) or accept it (the code)
    lookup_misses_next: int = 0  # the next N list requests find nothing (a lagging index)
    fail_creates_next: int = 0  # the next N creates are answered `error_status`…
    fail_creates_applied: bool = False  # …after storing the contact (GetRaze's tags bug)


class Emulator:
    """One provider's API. Subclasses implement `handle`."""

    name = ""
    root = ""  # the API's path prefix, e.g. /external/v1

    def __init__(self, api_keys: dict[str, list[str]], faults: dict | None = None):
        self.default_keys = dict(api_keys)
        self.default_faults = dict(faults or {})  # what a reset returns to
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.keys = {key: list(perms) for key, perms in self.default_keys.items()}
            self.faults = Faults(**self.default_faults)
            self.contacts: dict[str, dict] = {}
            self.requests: list[dict] = []
            self.windows: dict[str, tuple[int, int]] = {}

    def set_faults(self, values: dict) -> dict:
        known = {f.name for f in fields(Faults)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown knobs: {sorted(unknown)}")
        with self.lock:
            for key, value in values.items():
                setattr(self.faults, key, value)
            return asdict(self.faults)

    def take(self, knob: str) -> bool:
        """Consume one of a `…_next` counter."""
        with self.lock:
            left = getattr(self.faults, knob)
            if left > 0:
                setattr(self.faults, knob, left - 1)
                return True
            return False

    def handle(self, request: "Request") -> "Reply":
        raise NotImplementedError


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: object
    raw_body: bytes


@dataclass
class Reply:
    status: int
    body: object = None
    headers: dict | None = None
    drop: bool = False  # close the connection without answering


class Handler(BaseHTTPRequestHandler):
    server: "SandboxServer"
    protocol_version = "HTTP/1.1"
    # Headers and body are separate writes; with Nagle on, each answer waits ~40 ms for an ACK.
    disable_nagle_algorithm = True

    def log_message(self, format, *args):  # quiet by default; the request log has everything
        logger.debug("sandbox: " + format, *args)

    def do_GET(self):
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _dispatch(self):
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = ValueError("invalid JSON")
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        headers = {k.lower(): v for k, v in self.headers.items()}
        if url.path.startswith(CONTROL):
            reply = self.server.control(self.command, url.path[len(CONTROL) :], body)
        else:
            provider, _, rest = url.path.lstrip("/").partition("/")
            emulator = self.server.emulators.get(provider)
            if emulator is None:
                reply = Reply(404, {"error": f"no provider {provider!r} in this sandbox"})
            elif not ("/" + rest + "/").startswith(emulator.root + "/"):
                reply = Reply(404, {"error": f"the API root is /{provider}{emulator.root}"})
            else:
                path = ("/" + rest)[len(emulator.root) :] or "/"
                reply = emulator.handle(Request(self.command, path, query, headers, body, raw))
        if reply.drop:
            self.close_connection = True
            self.connection.shutdown(2)  # SHUT_RDWR: the client sees the connection cut
            return
        payload = b"" if reply.body is None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (reply.headers or {}).items():
            self.send_header(key, str(value))
        self.end_headers()
        self.wfile.write(payload)


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, emulators: dict[str, Emulator]):
        super().__init__(address, Handler)
        self.emulators = emulators

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def control(self, method: str, path: str, body) -> Reply:
        provider, _, action = path.partition("/")
        emulator = self.emulators.get(provider)
        if emulator is None:
            return Reply(404, {"error": f"no provider {provider!r}"})
        body = body if isinstance(body, dict) else {}
        with emulator.lock:
            if method == "POST" and action == "faults":
                try:
                    return Reply(200, emulator.set_faults(body))
                except ValueError as exc:
                    return Reply(400, {"error": str(exc)})
            if method == "POST" and action == "reset":
                emulator.reset()
                return Reply(200, {"ok": True})
            if method == "POST" and action == "keys":
                emulator.keys[body["key"]] = list(body.get("permissions") or [])
                return Reply(200, {"ok": True})
            if method == "GET" and action == "requests":
                return Reply(200, emulator.requests)
            if method == "GET" and action == "contacts":
                return Reply(200, list(emulator.contacts.values()))
        return Reply(404, {"error": f"no control {method} {action!r}"})


def apply_transport_faults(emulator: Emulator) -> Reply | None:
    """Latency, timeouts and injected errors, common to every provider. None: carry on."""
    faults = emulator.faults
    if faults.latency:
        time.sleep(faults.latency)
    if emulator.take("timeout_next"):
        time.sleep(faults.timeout_seconds)
        return Reply(504, drop=True)
    if emulator.take("fail_next") or (
        faults.error_rate and random.random() < faults.error_rate  # noqa: S311
    ):
        return Reply(faults.error_status, None)
    return None
