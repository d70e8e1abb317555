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
        )
    )

The field appears in every contact response and in the OpenAPI schema; `prefetch` keeps the
list endpoint at a fixed number of queries.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import QuerySet
from rest_framework import serializers


@dataclass(frozen=True)
class ContactFieldExtension:
    name: str
    # Builds a fresh read-only serializer field (fields are bound to one serializer each).
    field: Callable[[], serializers.Field]
    prefetch: Callable[[QuerySet], QuerySet] | None = None


_extensions: dict[str, ContactFieldExtension] = {}


def contact_field_register(extension: ContactFieldExtension) -> None:
    _extensions[extension.name] = extension


def contact_field_unregister(name: str) -> None:
    _extensions.pop(name, None)


def contact_field_extensions() -> list[ContactFieldExtension]:
    return list(_extensions.values())
