"""The integrations part of the REST API: the push endpoint and `remote_links` on contacts."""

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
        )
    )
