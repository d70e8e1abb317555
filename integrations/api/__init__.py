"""The integrations part of the REST API: the push endpoint and `remote_links` on contacts."""

import datetime
import functools
from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.models import Prefetch, TextField
from django.db.models.expressions import RawSQL


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
            row_expression=remote_links_subquery,
            from_row=remote_links_from_json,
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


@functools.cache
def remote_links_subquery() -> RawSQL:
    """The contact's links as JSON text, for the list's own statement on PostgreSQL.

    Written as SQL once (see crm.api.representation.contact_list_rows, which phones and tags
    share): the same keys, order and null last_error as RemoteLinkSerializer. Only the
    models' own table and column names, quoted, go into it.
    """
    from crm.models import Contact

    from ..models import Connection, RemoteLink

    qn = connection.ops.quote_name
    link, conn = RemoteLink._meta, Connection._meta

    def col(alias: str, meta, name: str) -> str:
        return f"{alias}.{qn(meta.get_field(name).column)}"

    code, message = col("l", link, "last_error_code"), col("l", link, "last_error_message")
    pairs = ", ".join(
        [
            f"'connection', {col('c', conn, 'name')}",
            f"'provider', {col('c', conn, 'provider')}",
            f"'remote_id', {col('l', link, 'remote_id')}",
            f"'state', {col('l', link, 'state')}",
            f"'last_error', CASE WHEN {code} <> '' OR {message} <> ''"
            f" THEN json_build_object('code', {code}, 'message', {message}) END",
            f"'last_pushed_at', {col('l', link, 'last_pushed_at')}",
        ]
    )
    contact = f"{qn(Contact._meta.db_table)}.{qn(Contact._meta.pk.column)}"
    return RawSQL(  # noqa: S611
        f"SELECT json_agg(json_build_object({pairs}) ORDER BY {col('c', conn, 'name')})::text"  # noqa: S608
        f" FROM {qn(link.db_table)} l JOIN {qn(conn.db_table)} c"
        f" ON c.{qn(conn.pk.column)} = {col('l', link, 'connection')}"
        f" WHERE {col('l', link, 'contact')} = {contact}",
        (),
        output_field=TextField(),
    )


def remote_links_from_json(text: str | None) -> list[dict[str, Any]]:
    """remote_links_subquery's value as RemoteLinkSerializer shows the links."""
    from crm.api.representation import datetime_formatter, json_loads

    links = json_loads(text) if text else []
    if links:
        represent_datetime = datetime_formatter()
        for item in links:
            # PostgreSQL's JSON has its own ISO 8601 form: parsed, then shown as DRF does.
            pushed_at = item["last_pushed_at"]
            item["last_pushed_at"] = represent_datetime(
                datetime.datetime.fromisoformat(pushed_at) if pushed_at else None
            )
    return links
