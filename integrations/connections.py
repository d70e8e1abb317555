"""Writes of connections: create or update one, pause it when its key is refused, resume it,
and staff's "Test connection"."""

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from django.utils import timezone

from .adapters import adapter_for
from .audience import audience_validate
from .crypto import SecretUnreadable
from .links import links_enqueue_pending
from .mapping import mapping_from_legacy, mapping_validate
from .models import Connection
from .providers import ProviderError, adapter_class, default_base_url

logger = logging.getLogger(__name__)


def connection_upsert(
    *,
    name: str,
    provider: str,
    api_key: str | None = None,
    base_url: str | None = None,
    options: Mapping[str, Any] | None = None,
    field_map: Sequence[Mapping[str, str]] | None = None,
    **fields: Any,
) -> tuple[Connection, bool]:
    """Create the connection called `name`, or update it. Returns (connection, created).

    Only what is passed changes: `options` are merged into the stored ones. An empty
    `base_url` means the provider's official URL. An `audience` is checked by the contact
    filter set (AudienceInvalid, a ValueError, names every problem). A `field_map`
    ([{"target", "source"}], integrations.mapping) replaces the stored one, checked against
    the provider's rules and the fields last fetched from it (MappingInvalid, a ValueError).
    """
    if "audience" in fields:
        fields["audience"] = audience_validate(fields["audience"])
    connection = Connection.objects.filter(name=name).first()
    created = connection is None
    was_active = not created and connection.is_active
    if created:
        connection = Connection(name=name, provider=provider)
    connection.provider = provider
    if api_key is not None:
        connection.api_key = api_key
    if base_url is not None or created:
        connection.base_url = base_url or ""
    if options:
        connection.options = {**(connection.options or {}), **options}
    legacy = adapter_class(provider).legacy_map_option
    if legacy and legacy in connection.options:
        # The mapping's former option (Close's custom_field_map), given as before: moved.
        options = dict(connection.options)
        legacy_map = options.pop(legacy)
        connection.options = options
        if field_map is None:
            field_map = mapping_from_legacy(legacy_map if isinstance(legacy_map, dict) else {})
    if field_map is not None:
        connection.field_map = connection_mapping_validate(
            provider=provider, entries=field_map, provider_fields=connection.provider_fields
        )
    for field, value in fields.items():
        setattr(connection, field, value)
    if fields.get("enabled") and not connection.is_paused:
        connection.paused_reason = ""  # why it was disabled (a webhook's 410) no longer holds
    if not connection.api_key_encrypted:
        raise ValueError("A new connection needs an API key.")
    problem = adapter_class(provider).settings_problem(
        base_url=connection.base_url or default_base_url(provider),
        api_key=api_key if api_key is not None else _stored_key(connection),
    )
    if problem:
        raise ValueError(problem)
    connection.full_clean(exclude=["base_url"] if not connection.base_url else None)
    connection.save()
    # A new key is the fix a paused connection waits for (as in the admin): resume it and
    # push what piled up, or the pending links would wait for someone to click Resume.
    if api_key and connection.is_paused:
        connection_resume(connection=connection)
    elif not created and not was_active and connection.is_active:
        links_enqueue_pending(connection=connection)  # what waited while it was off
    return connection, created


def connection_mapping_validate(
    *, provider: str, entries: Sequence[Mapping], provider_fields: Sequence[Mapping] | None
) -> list[dict]:
    """A mapping checked against `provider`'s rules (and its fields as last fetched), or
    MappingInvalid naming each problem."""
    adapter = adapter_class(provider)
    return mapping_validate(
        rules=adapter.mapping_rules,
        label=adapter.label,
        entries=entries,
        provider_fields=provider_fields,
    )


def connection_fields_fetch(*, connection: Connection) -> list[dict]:
    """Read the provider's own fields (Close's contact custom fields) and keep them on the
    connection: the mapping's target choices, and what its values are checked against at each
    push (types, choices). Raises ProviderError or SecretUnreadable."""
    adapter = adapter_for(connection)
    if not hasattr(adapter, "fetch_fields"):
        raise ValueError(f"{adapter.label} has no fields to fetch.")
    fields = adapter.fetch_fields()
    connection.provider_fields, connection.provider_fields_fetched_at = fields, timezone.now()
    Connection.objects.filter(pk=connection.pk).update(
        provider_fields=fields, provider_fields_fetched_at=connection.provider_fields_fetched_at
    )
    return fields


def connection_pause(*, connection: Connection, reason: str) -> None:
    """Stop pushing to a connection whose credentials were refused, until staff resume it."""
    paused = Connection.objects.filter(pk=connection.pk, paused_at__isnull=True).update(
        paused_at=timezone.now(), paused_reason=reason[:500]
    )
    if paused:
        logger.warning("Connection %s paused: %s", connection.name, reason)


def _stored_key(connection: Connection) -> str:
    try:
        return connection.api_key
    except SecretUnreadable:
        return ""  # unreadable since the encryption key changed: to be entered again


def connection_disable(*, connection: Connection, reason: str) -> None:
    """Turn off a connection whose endpoint said it is gone for good (a webhook receiver's
    410 Gone), keeping why; staff turn it on again once the receiver is back."""
    Connection.objects.filter(pk=connection.pk).update(enabled=False, paused_reason=reason[:500])
    connection.enabled, connection.paused_reason = False, reason[:500]
    logger.warning("Connection %s disabled: %s", connection.name, reason)


def connection_resume(*, connection: Connection) -> int:
    """Clear a pause and queue the connection's pending pushes again. Returns how many."""
    Connection.objects.filter(pk=connection.pk).update(paused_at=None, paused_reason="")
    connection.paused_at, connection.paused_reason = None, ""
    return links_enqueue_pending(connection=connection)


def connection_check(*, connection: Connection) -> tuple[bool, str]:
    """Staff's "Test connection": one harmless authenticated read. Returns (ok, message).

    Only reports: a refused key does not pause the connection here (the push engine does
    that when a push is refused), so testing a draft connection changes nothing.
    """
    provider = connection.get_provider_display()
    try:
        adapter_for(connection).check()
    except SecretUnreadable:
        return False, "The stored API key can't be read: enter it again."
    except ProviderError as error:
        answer = f"HTTP {error.status}" if error.status is not None else "no answer"
        return False, f"{provider} refused it ({answer}, {error.code}): {error.message}"
    return True, f"{provider} accepted the API key."


def option_value_parse(raw: str) -> object:
    """A provider option as staff type it: JSON when it parses as JSON (3, true, {"a": 1},
    [1, 2], "quoted"), else the text itself."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def option_value_text(value: object) -> str:
    """An option's stored value as staff type it (option_value_parse reads it back)."""
    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError:
            return value
    return json.dumps(value, ensure_ascii=False)  # "3" stays text: shown quoted
