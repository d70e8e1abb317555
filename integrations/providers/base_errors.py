"""How a provider call failed, in one exception type the push engine acts on, and the
provider's "come back later" headers read into seconds."""

import email.utils
import time

# Statuses that say "try again later": the request may succeed unchanged.
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class ProviderError(Exception):
    """A provider call that did not succeed.

    permanent: retrying the same payload cannot help (validation, a missing required field).
    auth: the provider refused our credentials (401/403).
    misconfigured: no push can succeed until staff fix the connection (refused credentials, an
        option naming a team the provider doesn't know, an invalid lead strategy): the engine
        pauses the connection. Every auth error is also misconfigured.
    retry_after: seconds the provider asked us to wait (429), when it said so.
    ambiguous: the request may have been applied although no answer arrived (timeout, dropped
        connection, a 5xx after the write): a create must be followed by a lookup.
    gone: the endpoint says it is gone for good (a webhook receiver's 410): the engine disables
        the connection with the reason.
    create_unresolved: set by the engine on an ambiguous create whose lookup missed: the
        record may exist yet, so no push may create it again before the retry looks again.
    """

    create_unresolved = False
    gone = False

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        code: str = "",
        status: int | None = None,
        permanent: bool = False,
        auth: bool = False,
        misconfigured: bool = False,
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
        self.misconfigured = misconfigured or auth
        self.retry_after = retry_after
        self.ambiguous = ambiguous

    def __str__(self) -> str:
        status = self.status if self.status is not None else "no answer"
        return f"{self.provider} ({status}) {self.code}: {self.message}"

    @property
    def retryable(self) -> bool:
        return not (self.permanent or self.misconfigured)


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
