"""What every provider adapter shares: the HTTP session, timeouts, error classification.

The base owns HTTP; an adapter owns meaning. An adapter builds the payload from a contact, names
its endpoints, reads the remote ID and the provider's error body. Errors are classified once,
here, into one exception type, ProviderError, which the push engine acts on.
"""

import email.utils
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import requests
from django.conf import settings

USER_AGENT = "RelayCRM/0.1 (+https://github.com/relay-crm) python-requests/" + requests.__version__

# Statuses that say "try again later": the request may succeed unchanged.
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class ProviderError(Exception):
    """A provider call that did not succeed.

    permanent: retrying the same payload cannot help (validation, a missing required field).
    auth: the credentials are refused (401/403): the connection must be fixed by staff.
    retry_after: seconds the provider asked us to wait (429), when it said so.
    ambiguous: the request may have been applied although no answer arrived (timeout, dropped
        connection, a 5xx after the write): a create must be followed by a lookup.
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        code: str = "",
        status: int | None = None,
        permanent: bool = False,
        auth: bool = False,
        retry_after: float | None = None,
        ambiguous: bool = False,
    ):
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.code = code
        self.status = status
        self.permanent = permanent
        self.auth = auth
        self.retry_after = retry_after
        self.ambiguous = ambiguous

    def __str__(self) -> str:
        status = self.status if self.status is not None else "no answer"
        return f"{self.provider} ({status}) {self.code}: {self.message}"

    @property
    def retryable(self) -> bool:
        return not (self.permanent or self.auth)


class Observer(Protocol):
    """Told about every HTTP call, before and after, so the engine can keep an audit row."""

    def started(self, operation: str, method: str, path: str) -> Any: ...

    def finished(
        self, token: Any, *, status: int | None, duration_ms: int, error: ProviderError | None
    ) -> None: ...


@dataclass
class Answer:
    status: int
    body: Any
    headers: Mapping[str, str]


_sessions: dict[Any, requests.Session] = {}


def session_for(key: Any) -> requests.Session:
    """One pooled session per connection and process: keep-alive across pushes."""
    session = _sessions.get(key)
    if session is None:
        session = _sessions[key] = requests.Session()
        session.headers["User-Agent"] = USER_AGENT
    return session


class Adapter:
    """Base of provider adapters. Subclasses set the class attributes and implement the hooks."""

    provider: ClassVar[str]
    default_base_url: ClassVar[str]
    # Provider error codes that mean "this payload will never be accepted as it is".
    permanent_codes: ClassVar[tuple[str, ...]] = ()
    # Provider error codes that staff must fix on the connection (as a 401/403), whatever the
    # status: e.g. a team option naming a team the provider doesn't know (a 404).
    auth_codes: ClassVar[tuple[str, ...]] = ()
    # "Test connection" in the admin: one harmless authenticated read. Most providers list
    # contacts at this path; a provider with a cheaper or different read overrides these.
    check_path: ClassVar[str] = "/contacts"
    check_params: ClassVar[dict[str, Any]] = {"limit": 1}

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        options: Mapping[str, Any] | None = None,
        session: requests.Session | None = None,
        observer: Observer | None = None,
        throttle: Callable[[], None] | None = None,
        timeout: float | None = None,
        remember: Callable[[str, dict], None] | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.options = dict(options or {})
        self.session = session or session_for((type(self).__name__, self.base_url))
        self.observer = observer
        self.throttle = throttle
        self.timeout = timeout or settings.INTEGRATIONS["HTTP_TIMEOUT"]
        self._remember = remember

    def __repr__(self) -> str:  # never shows the key
        return f"<{type(self).__name__} {self.base_url}>"

    # --- hooks each provider implements -----------------------------------------------------

    def auth_headers(self) -> dict[str, str]:
        raise NotImplementedError

    def build_payload(self, contact) -> dict:
        """The complete representation of `contact` for this provider (None = empty)."""
        raise NotImplementedError

    def skip_reason(self, payload: dict) -> str | None:
        """Why this provider cannot accept the contact at all, or None."""
        return None

    def create(self, payload: dict) -> str:
        """Create the remote record and return its ID."""
        raise NotImplementedError

    def update(self, remote_id: str, payload: dict) -> None:
        raise NotImplementedError

    def lookup(self, payload: dict) -> str | None:
        """The ID of the remote record with this payload's duplicate key, if there is one."""
        raise NotImplementedError

    def check(self) -> None:
        """Make one harmless authenticated read; raises ProviderError when it is refused."""
        self.request("lookup", "GET", self.check_path, params=self.check_params)

    def parse_error(self, answer: Answer) -> tuple[str, str]:
        """The provider's (code, message) from an error answer."""
        return "", ""

    def retry_after(self, answer: Answer) -> float | None:
        # The RateLimit header's reset (Close) may be a decimal, so it is more precise than
        # Retry-After's whole seconds; either is read from any provider that sends it.
        reset = parse_ratelimit_reset(answer.headers.get("RateLimit"))
        return reset if reset is not None else parse_retry_after(answer.headers.get("Retry-After"))

    def remember(self, key: str, entries: dict) -> None:
        """Merge `entries` into the connection's option `key` and keep them for later pushes
        (e.g. Close's lead id per company). Without a store (a bare adapter) only in memory."""
        self.options[key] = {**(self.options.get(key) or {}), **entries}
        if self._remember is not None:
            self._remember(key, entries)

    # --- HTTP, owned by the base ------------------------------------------------------------

    def request(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> Answer:
        """Send one request and return the parsed 2xx answer; raise ProviderError otherwise."""
        if self.throttle is not None:
            self.throttle()
        token = self.observer.started(operation, method, path) if self.observer else None
        started = time.monotonic()
        answer = error = None
        try:
            answer, error = self._send(method, path, json_body=json_body, params=params)
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

    def _send(self, method, path, *, json_body, params) -> tuple[Answer, ProviderError | None]:
        headers = {"Accept": "application/json", **self.auth_headers()}
        try:
            response = self.session.request(
                method,
                self.base_url + path,
                json=json_body,
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
            if not isinstance(answer.body, dict | list):
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
        if answer.status in (401, 403) or code in self.auth_codes:
            return self.error(message, code=code, status=answer.status, auth=True)
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


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def parse_ratelimit_reset(value: str | None) -> float | None:
    """Seconds until the window resets, from `RateLimit: limit=100, remaining=0, reset=1.5`
    (the IETF draft header). Several limits may be listed; the longest reset is the safe wait."""
    if not value:
        return None
    resets = []
    for part in value.replace(";", ",").split(","):
        name, _, number = part.strip().partition("=")
        if name.strip().lower() == "reset":
            try:
                resets.append(max(0.0, float(number.strip().strip('"'))))
            except ValueError:
                continue
    return max(resets) if resets else None


def _json_or_text(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text
