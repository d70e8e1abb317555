"""The integrations part of the REST API: the push endpoint and `remote_links` on contacts."""

from collections.abc import Sequence
from typing import Any

from django.db.models import Prefetch


def register_contact_extensions() -> None:
    """Add `remote_links` to the contact representation through crm.api's extension hook."""
    from crm.api.extensions import ContactFieldExtension, contact_field_register
    from crm.api.filters import contact_filter_register

    from ..models import RemoteLink
    from .filters import SyncStateFilter
    from .serializers import RemoteLinkSerializer

    contact_filter_register("sync", SyncStateFilter())
    links = RemoteLink.objects.select_related("connection").order_by("connection__name")
    contact_field_register(
        ContactFieldExtension(
            name="remote_links",
            field=lambda: RemoteLinkSerializer(many=True, read_only=True),
            prefetch=lambda queryset: queryset.prefetch_related(
                Prefetch("remote_links", queryset=links)
            ),
            values=remote_links_by_contact,
        )
    )


def remote_links_by_contact(contact_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """The contacts' links as RemoteLinkSerializer shows them, in one query (for the list)."""
    from crm.api.representation import datetime_formatter, ids_filter

    from ..models import RemoteLink

    rows = (
        RemoteLink.objects.filter(ids_filter("contact_id", contact_ids))
        .order_by("connection__name")
        .values_list(
            "contact_id",
            "connection__name",
            "connection__provider",
            "remote_id",
            "state",
            "last_error_code",
            "last_error_message",
            "last_pushed_at",
        )
    )
    represent_datetime = datetime_formatter()
    links: dict[int, list[dict[str, Any]]] = {pk: [] for pk in contact_ids}
    for contact_id, name, provider, remote_id, state, code, message, pushed_at in rows:
        links[contact_id].append(
            {
                "connection": name,
                "provider": provider,
                "remote_id": remote_id,
                "state": state,
                # As RemoteLink.last_error: null unless there is a code or a message.
                "last_error": {"code": code, "message": message} if code or message else None,
                "last_pushed_at": represent_datetime(pushed_at),
            }
        )
    return links
