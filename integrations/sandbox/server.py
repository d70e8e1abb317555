"""A local HTTP server that behaves like the providers' documented APIs, with fault knobs.

Each provider is served under its own prefix (GetRaze: /getraze/external/v1/…), so one sandbox
stands in for all of them. Control endpoints, under /__sandbox__/<provider>/:
    POST faults    set knobs (JSON object; see Faults), answered with the knobs now in force
    POST reset     forget every contact, request and fault
    POST keys      {"key": "...", "permissions": [...]} adds an API key
    GET requests   the requests received (method, path, query, body; never the key)
    GET contacts   the stored contacts
GET / is a page listing the providers, what each received and holds, with links to that JSON.
With a state file (run_sandbox --state, which `make run` sets), the records and the latest
requests are written to it after every request and read back at start, so a restart keeps
them; without one (the tests), everything lives in memory only.
No Django here: the sandbox is stdlib only, so it can run without the project's database.
"""

import json
import logging
import os
import random
import threading
import time
from dataclasses import asdict, dataclass, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from .home import home_page

logger = logging.getLogger(__name__)

CONTROL = "/__sandbox__/"
# The requests a state file keeps per provider: the latest ones, enough to see what came in.
KEPT_REQUESTS = 200


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
    rate_window: float = 3600  # seconds (fixed windows from the epoch); GetRaze's: the hour
    retry_after_header: bool = False  # add Retry-After to a 429 (GetRaze itself does not)
    unique_email: bool = True  # 409 on a duplicate email (the docs) or accept it (the code)
    lookup_misses_next: int = 0  # the next N list requests find nothing (a lagging index)
    fail_creates_next: int = 0  # the next N creates are answered `error_status`…
    fail_creates_applied: bool = False  # …after storing the contact (GetRaze's tags bug)


class Emulator:
    """One provider's API. Subclasses implement `handle`."""

    name = ""
    root = ""  # the API's path prefix, e.g. /external/v1
    label = ""  # the provider's name, as people write it
    # The rate limit the provider documents, (requests, window in seconds) per key; None
    # where it documents none. `documented_rate_knobs` turns it on.
    documented_limit: tuple[int, float] | None = None
    # What a state file keeps across restarts: the records, never the keys or the faults.
    persisted = ("contacts", "requests")

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

    def state(self) -> dict:
        """The persisted attributes as JSON; a dict as its [key, value] pairs, so keys keep
        their type (Klen's are numbers as text, for instance)."""
        with self.lock:
            state = {}
            for name in self.persisted:
                value = getattr(self, name)
                if name == "requests":
                    value = value[-KEPT_REQUESTS:]
                state[name] = {"pairs": list(value.items())} if isinstance(value, dict) else value
            return json.loads(json.dumps(state))  # a copy, taken under the lock

    def restore(self, state: dict) -> None:
        with self.lock:
            for name in self.persisted:
                if name not in state:
                    continue
                value = state[name]
                if isinstance(value, dict) and "pairs" in value:
                    value = {key: item for key, item in value["pairs"]}
                setattr(self, name, value)

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

    @classmethod
    def documented_rate_knobs(cls, scale: float = 1.0) -> dict:
        """The knobs enforcing the provider's documented limit with each window `scale` times
        shorter and as many requests in it (a pace `scale` times faster), so that a run over
        several windows takes minutes. No limit where the provider documents none."""
        if cls.documented_limit is None:
            return {"rate_limit": 0}
        if scale <= 0:
            raise ValueError(f"the rate scale must be above 0, not {scale}")
        limit, window = cls.documented_limit
        return {"rate_limit": limit, "rate_window": window / scale}

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
        if url.path == "/" and self.command == "GET":
            reply = Reply(200, home_page(self.server))
        elif url.path.startswith(CONTROL):
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
        if self.command != "GET" or not url.path.startswith(CONTROL):
            self.server.save()  # outside every emulator's lock
        if reply.drop:
            self.close_connection = True
            self.connection.shutdown(2)  # SHUT_RDWR: the client sees the connection cut
            return
        if isinstance(reply.body, str):  # a page
            payload, content_type = reply.body.encode(), "text/html; charset=utf-8"
        else:
            payload = b"" if reply.body is None else json.dumps(reply.body).encode()
            content_type = "application/json"
        self.send_response(reply.status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (reply.headers or {}).items():
            self.send_header(key, str(value))
        self.end_headers()
        self.wfile.write(payload)


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, emulators: dict[str, Emulator], state_path: Path | None = None):
        super().__init__(address, Handler)
        self.emulators = emulators
        self.state_path = Path(state_path) if state_path else None
        self.save_lock = threading.Lock()
        self.load()

    def load(self) -> None:
        """Read the state file back, if there is one (a missing or unreadable one: empty)."""
        if self.state_path is None or not self.state_path.exists():
            return
        try:
            saved = json.loads(self.state_path.read_text())
        except (OSError, ValueError) as exc:
            logger.warning("sandbox: %s is unreadable (%s); starting empty", self.state_path, exc)
            return
        for name, emulator in self.emulators.items():
            emulator.restore(saved.get(name) or {})

    def save(self) -> None:
        """Write every provider's records to the state file (written whole, then renamed)."""
        if self.state_path is None:
            return
        with self.save_lock:
            state = {name: emulator.state() for name, emulator in self.emulators.items()}
            self.state_path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.state_path.with_name(self.state_path.name + ".tmp")
            partial.write_text(json.dumps(state))
            os.replace(partial, self.state_path)

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
