"""The request pipeline shared by the provider emulations.

Every request is logged, then authenticated with the provider's own scheme, then counted
against the `rate_limit` knob (a fixed window of `rate_window` seconds per key, its headers on
every answer from there on, injected failures included), then exposed to the transport
faults, then routed. Each provider supplies its auth check, its error body
and its rate-limit answer.
"""

import datetime
import math
import time

from .server import Emulator, Reply, Request, apply_transport_faults


class JsonEmulator(Emulator):
    def handle(self, request: Request) -> Reply:
        with self.lock:
            body = request.body if not isinstance(request.body, Exception) else None
            self.requests.append(
                {"method": request.method, "path": request.path, "query": request.query}
                | {"body": body}
            )
        key, refused = self.authenticate(request)
        if refused is not None:
            return refused
        limited, headers = self._rate(key)
        if limited is not None:
            return limited
        fault = apply_transport_faults(self)
        if fault is not None:
            if fault.body is None and not fault.drop:
                fault = self.error(fault.status, "Injected failure.")
            # The rate headers are set before the request is handled (GetRaze's middleware
            # sets them on every authenticated answer): a failure carries them too.
            fault.headers = {**headers, **(fault.headers or {})}
            return fault
        if isinstance(request.body, Exception):
            return self.error(400, "Invalid JSON payload.", code="invalid_json")
        with self.lock:
            reply = self.route(request, key)
        reply.headers = {**headers, **(reply.headers or {})}
        return reply

    # --- what each provider defines ---------------------------------------------------------

    def authenticate(self, request: Request) -> tuple[str, Reply | None]:
        raise NotImplementedError

    def error(self, status: int, message: str, *, code: str = "") -> Reply:
        raise NotImplementedError

    def route(self, request: Request, key: str) -> Reply:
        raise NotImplementedError

    def rate_headers(self, *, limit: int, remaining: int, reset: float) -> dict:
        """Headers on every answer while a rate limit is set (none by default)."""
        return {}

    def rate_limited(self, *, limit: int, reset: float) -> Reply:
        reply = self.error(429, "Too many requests.", code="rate_limit_exceeded")
        reply.headers = {"Retry-After": max(1, math.ceil(reset))}
        return reply

    # --- helpers ----------------------------------------------------------------------------

    def _rate(self, key: str) -> tuple[Reply | None, dict]:
        limit, window_seconds = self.faults.rate_limit, self.faults.rate_window
        if not limit:
            return None, {}
        with self.lock:
            now = time.time()
            window = int(now // window_seconds)
            start, count = self.windows.get(key, (window, 0))
            count = count + 1 if start == window else 1
            self.windows[key] = (window, count)
        reset = round((window + 1) * window_seconds - now, 3)
        headers = self.rate_headers(limit=limit, remaining=max(0, limit - count), reset=reset)
        if count <= limit:
            return None, headers
        reply = self.rate_limited(limit=limit, reset=reset)
        reply.headers = {**headers, **(reply.headers or {})}
        return reply, headers

    def create_faults(self, store) -> Reply | None:
        """The create-time knobs: fail (before or after storing), or store then cut the line.
        `store` stores the new record; None means carry on and answer normally."""
        failing = self.take("fail_creates_next")
        if failing and not self.faults.fail_creates_applied:
            return self.error(self.faults.error_status, "Injected failure.")
        store()
        if failing:
            return self.error(self.faults.error_status, "Injected failure.")
        if self.take("drop_after_create_next"):
            return Reply(200, drop=True)
        return None


def window_words(seconds: float) -> str:
    """A rate window as a 429's message words it: "hour", "minute", or "15 seconds"."""
    return {3600: "hour", 60: "minute", 1: "second"}.get(seconds, f"{seconds:g} seconds")


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")
