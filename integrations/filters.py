"""The contact filters with the state of a contact's pushes (`sync=failed`,
`sync=GetRaze:failed`): crm's filter set (crm.filters) plus what only integrations knows. The
API's contact list and the connections' audiences both use ContactFilter."""

from django import forms
from django.db.models import Exists, OuterRef, QuerySet
from django_filters import rest_framework as filters

from crm.filters import ContactFilterSet

from .models import RemoteLink


class SyncStateField(forms.CharField):
    """ "state" or "connection name:state"; the state comes last, so names may hold colons."""

    # Declared, not only raised, so the schema lists `invalid_choice` among the filter's codes.
    default_error_messages = {
        "invalid_choice": (
            "Use a state (%(states)s), optionally after a connection name and a colon."
        ),
    }

    def to_python(self, value) -> tuple[str, str] | None:
        text = super().to_python(value).strip()
        if not text:
            return None
        connection, _, state = text.rpartition(":")
        if state not in RemoteLink.State.values:
            raise forms.ValidationError(
                self.error_messages["invalid_choice"],
                code="invalid_choice",
                params={"states": ", ".join(RemoteLink.State.values)},
            )
        return connection.strip(), state


class SyncStateFilter(filters.Filter):
    field_class = SyncStateField

    def __init__(self, **kwargs):
        super().__init__(max_length=150, **kwargs)

    def filter(self, queryset: QuerySet, value: tuple[str, str] | None) -> QuerySet:
        if not value:
            return queryset
        connection, state = value
        links = RemoteLink.objects.filter(contact=OuterRef("pk"), state=state)
        if connection:
            links = links.filter(connection__name=connection)
        return queryset.filter(Exists(links))


class ContactFilter(ContactFilterSet):
    # `?sync=failed` or `?sync=<connection name>:failed`: the state of the contact's pushes.
    sync = SyncStateFilter()

    class Meta(ContactFilterSet.Meta):
        pass
