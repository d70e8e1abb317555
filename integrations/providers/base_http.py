"""The HTTP side every adapter shares: pooled sessions, auth schemes, one try per request with
its audit hooks, and the classification of a failed answer into a ProviderError."""

import base64
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import requests
from django.conf import settings

from .base_errors import RETRYABLE_STATUSES, ProviderError, parse_ratelimit_reset, parse_retry_after
from .base_rate import RateWindow, rate_window

USER_AGENT = "RelayCRM/0.1 (+https://github.com/relay-crm) python-requests/" + requests.__version__


@dataclass
class Answer:
    status: int
    body: Any
    headers: Mapping[str, str]

    @property
    def json_object(self) -> dict:
        """The body when it is a JSON object, else an empty one: a list, a text or nothing
        where an object was expected reads as "no such field"."""
        return self.body if isinstance(self.body, dict) else {}


class Observer(Protocol):
    """Told about every HTTP call, before and after, so the engine can keep an audit row."""

    def started(self, operation: str, method: str, path: str) -> Any: ...

    def finished(
        self, token: Any, *, status: int | None, duration_ms: int, error: ProviderError | None
    ) -> None: ...


# --- auth schemes: how the API key travels -----------------------------------------------------


@dataclass(frozen=True)
class KeyHeader:
    """The key as it is, in a header of the provider's choosing."""

    header: str

    def headers(self, api_key: str) -> dict[str, str]:
        return {self.header: api_key}


@dataclass(frozen=True)
class BearerToken:
    def headers(self, api_key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_key}"}


@dataclass(frozen=True)
class BasicKeyAsUser:
    """HTTP Basic with the key as the user name and no password."""

    def headers(self, api_key: str) -> dict[str, str]:
        token = base64.b64encode(f"{api_key}:".encode()).decode()
        return {"Authorization": f"Basic {token}"}


AuthScheme = KeyHeader | BearerToken | BasicKeyAsUser

_sessions: dict[Any, requests.Session] = {}


def session_for(key: Any) -> requests.Session:
    """One pooled session per connection and process: keep-alive across pushes."""
    session = _sessions.get(key)
    if session is None:
        session = _sessions[key] = requests.Session()
        session.headers["User-Agent"] = USER_AGENT
    return session


class HttpClient:
    """Sends an adapter's requests and turns every failure into one ProviderError."""

    provider: ClassVar[str]
    auth_scheme: ClassVar[AuthScheme]
    # Provider error codes that mean "this payload will never be accepted as it is".
    permanent_codes: ClassVar[tuple[str, ...]] = ()
    # Provider error codes that staff must fix on the connection, whatever the status: e.g. a
    # team option naming a team the provider doesn't know (a 404).
    misconfigured_codes: ClassVar[tuple[str, ...]] = ()
    # Whether a 2xx answer must be JSON; a receiver that only acknowledges (a webhook) may
    # answer anything.
    answers_json: ClassVar[bool] = True

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        session: requests.Session | None = None,
        observer: Observer | None = None,
        throttle: Callable[[], None] | None = None,
        pace: Callable[[RateWindow], None] | None = None,
        timeout: float | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.session = session or session_for((type(self).__name__, self.base_url))
        self.observer = observer
        self.throttle = throttle
        self.pace = pace  # told the rate window each answer describes, if any
        self.timeout = timeout or settings.INTEGRATIONS["HTTP_TIMEOUT"]

    def __repr__(self) -> str:  # never shows the key
        return f"<{type(self).__name__} {self.base_url}>"

    def auth_headers(self) -> dict[str, str]:
        return self.auth_scheme.headers(self._api_key)

    def parse_error(self, answer: Answer) -> tuple[str, str]:
        """The provider's (code, message) from an error answer."""
        return "", ""

    def retry_after(self, answer: Answer) -> float | None:
        # The RateLimit header's reset (Close) may be a decimal, so it is more precise than
        # Retry-After's whole seconds; either is read from any provider that sends it.
        reset = parse_ratelimit_reset(answer.headers.get("RateLimit"))
        return reset if reset is not None else parse_retry_after(answer.headers.get("Retry-After"))

    def request(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        """Send one request and return the parsed 2xx answer; raise ProviderError otherwise.
        `data` is a body sent byte for byte (a signed one), with its own `headers`."""
        if self.throttle is not None:
            self.throttle()
        token = self.observer.started(operation, method, path) if self.observer else None
        started = time.monotonic()
        answer = error = None
        try:
            answer, error = self._send(
                method,
                path,
                json_body=json_body,
                params=params,
                data=data,
                extra_headers=headers,
                any_body=operation == "delete" or not self.answers_json,
            )
            window = rate_window(answer.headers) if self.pace is not None else None
            if window is not None:
                self.pace(window)
        except ProviderError as exc:
            error = exc
        except Exception:
            # A bug, not a provider answer: recorded as such, then raised for the worker's log.
            error = self.error("Unexpected error in the adapter.", code="internal_error")
            raise
        finally:
            if self.observer is not None:
                self.observer.finished(
                    token,
                    status=answer.status if answer else None,
                    duration_ms=round((time.monotonic() - started) * 1000),
                    error=error,
                )
        if error is not None:
            raise error
        return answer

    def _send(
        self, method, path, *, json_body, params, data=None, extra_headers=None, any_body=False
    ) -> tuple[Answer, ProviderError | None]:
        headers = {"Accept": "application/json", **self.auth_headers(), **(extra_headers or {})}
        try:
            response = self.session.request(
                method,
                self.base_url + path,
                json=json_body,
                data=data,
                params=params,
                headers=headers,
                timeout=self.timeout,
            )
        except requests.ConnectTimeout:
            # Not connected, so nothing was sent: not ambiguous.
            raise self.error("Timed out connecting.", code="connect_timeout") from None
        except requests.Timeout:
            raise self.error("No answer in time.", code="timeout", ambiguous=True) from None
        except requests.ConnectionError as exc:
            # Refused before sending, or dropped after: requests can't tell us which.
            message = self.redact(f"Connection failed: {type(exc).__name__}.")
            raise self.error(message, code="connection_error", ambiguous=True) from None
        except requests.RequestException as exc:
            # An invalid URL, too many redirects…: the connection's settings need fixing.
            message = self.redact(f"Request failed: {type(exc).__name__}.")
            raise self.error(message, code="request_error", permanent=True) from None
        answer = Answer(response.status_code, _json_or_text(response), response.headers)
        if 200 <= response.status_code < 300:
            # A delete's answer carries nothing we read (Contactship's is an empty 204).
            if not any_body and not isinstance(answer.body, dict | list):
                return answer, self.error(
                    "The answer is not JSON.",
                    code="invalid_response",
                    status=answer.status,
                    ambiguous=True,
                )
            return answer, None
        return answer, self.classify(answer)

    def classify(self, answer: Answer) -> ProviderError:
        code, message = self.parse_error(answer)
        if not code and not message:
            text = answer.body if isinstance(answer.body, str) else json.dumps(answer.body)
            message = text.strip()[:300] or "(empty answer)"
        code = code or f"http_{answer.status}"
        message = self.redact(message)
        if answer.status in (401, 403):
            return self.error(message, code=code, status=answer.status, auth=True)
        if code in self.misconfigured_codes:
            return self.error(message, code=code, status=answer.status, misconfigured=True)
        if code in self.permanent_codes:
            return self.error(message, code=code, status=answer.status, permanent=True)
        if answer.status in RETRYABLE_STATUSES or answer.status >= 500:
            # A 429 says when to come back, in the provider's own way; so may a 503 (down for
            # maintenance), with the standard Retry-After header (RFC 9110). Coming back
            # sooner only hammers a provider that said it can't answer yet.
            if answer.status == 429:
                retry_after = self.retry_after(answer)
            elif answer.status == 503:
                retry_after = parse_retry_after(answer.headers.get("Retry-After"))
            else:
                retry_after = None
            # A 5xx may come after the write was applied; only 429 and 503 say "not done".
            ambiguous = answer.status >= 500 and answer.status != 503
            return self.error(
                message,
                code=code,
                status=answer.status,
                retry_after=retry_after,
                ambiguous=ambiguous,
            )
        return self.error(message, code=code, status=answer.status, permanent=True)

    def error(self, message: str, **kwargs) -> ProviderError:
        return ProviderError(message, provider=self.provider, **kwargs)

    def redact(self, text: str) -> str:
        """Belt and braces: no provider message or exception text may carry our key."""
        return text.replace(self._api_key, "[redacted]") if self._api_key else text


def _json_or_text(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text
