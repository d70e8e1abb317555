"""The hook through which other apps add read-only data to the contact representation.

crm never imports the apps built on it (integrations imports crm, not the reverse), so
they register here, typically in their AppConfig.ready(). For example, the contact's
links to provider records:

    from crm.api.extensions import ContactFieldExtension, contact_field_register

    contact_field_register(
        ContactFieldExtension(
            name="remote_links",
            field=lambda: RemoteLinkSerializer(many=True, read_only=True),
            prefetch=lambda queryset: queryset.prefetch_related("remote_links__connection"),
            values=remote_links_by_contact,  # {contact id: [link, …]} in one query
            row_expression=remote_links_subquery,  # or in the list's statement (PostgreSQL)
            from_row=remote_links_from_json,
        )
    )

The field appears in every contact response and in the OpenAPI schema. `field` and
`prefetch` serve the detail and write responses, which render a model instance through the
serializer. The list is built from `values()` rows (crm.api.representation), so an extension
should also give `values`: the field's representation for a page of contact ids, read in a
fixed number of queries. Without it the list falls back to instances with `prefetch` for
that field alone: correct, but slower.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Expression, QuerySet
from rest_framework import serializers


@dataclass(frozen=True)
class ContactFieldExtension:
    name: str
    # Builds a fresh read-only serializer field (fields are bound to one serializer each).
    field: Callable[[], serializers.Field]
    prefetch: Callable[[QuerySet], QuerySet] | None = None
    # Given a page's contact ids, the field's representation for each of them (every id must
    # be a key), exactly as `field` would render it.
    values: Callable[[Sequence[int]], Mapping[int, Any]] | None = None
    # Optional, on PostgreSQL: the list reads the field in the page's own statement instead
    # of the `values` query. `row_expression()` is a correlated subquery on the contact row
    # (crm.api.representation.contact_list_rows shows how phones and tags do it), and
    # `from_row` turns what it reads into the field's representation.
    row_expression: Callable[[], Expression] | None = None
    from_row: Callable[[Any], Any] | None = None


_extensions: dict[str, ContactFieldExtension] = {}


def contact_field_register(extension: ContactFieldExtension) -> None:
    _extensions[extension.name] = extension


def contact_field_unregister(name: str) -> None:
    _extensions.pop(name, None)


def contact_field_extensions() -> list[ContactFieldExtension]:
    return list(_extensions.values())
