"""What a delete of contacts does at the providers, for the contact admin's "Delete selected"
confirmation (crm.signals.contacts_delete_summary): the links to connections whose rule is
`delete` are kept until the remote record is deleted (remote_delete), and those to webhooks
until contact.deleted is delivered, counted per connection.
The links themselves are counted by crm with every row the delete reaches."""

from django.db.models import Count, Q, QuerySet

from crm.selectors import DeleteLine

from .models import Connection, RemoteLink
from .providers import ADAPTERS


def contacts_delete_links_summary(*, contacts: QuerySet) -> list[DeleteLine]:
    """`contacts` is a query of contact ids, used as a subquery: no id is bound."""
    notified = [adapter.provider for adapter in ADAPTERS if adapter.notifies_deletes]
    remote = (
        RemoteLink.objects.filter(
            Q(connection__on_delete=Connection.OnDelete.DELETE)
            | Q(connection__provider__in=notified),
            contact__in=contacts,
        )
        .values("connection__name")
        .annotate(count=Count("pk"))
        .order_by("connection__name")
    )
    webhooks = set(Connection.objects.filter(provider__in=notified).values_list("name", flat=True))
    return [
        DeleteLine(
            label=(
                f"contact.deleted deliveries to {row['connection__name']}"
                if row["connection__name"] in webhooks
                else f"records to delete at {row['connection__name']}"
            )
            + " (their links kept until then)",
            count=row["count"],
        )
        for row in remote
    ]
