"""What a delete of contacts does at the providers, for the contact admin's "Delete selected"
confirmation (crm.signals.contacts_delete_summary): the links to connections whose rule is
`delete` are kept until the remote record is deleted (remote_delete), counted per connection.
The links themselves are counted by crm with every row the delete reaches."""

from django.db.models import Count, QuerySet

from crm.selectors import DeleteLine

from .models import Connection, RemoteLink


def contacts_delete_links_summary(*, contacts: QuerySet) -> list[DeleteLine]:
    """`contacts` is a query of contact ids, used as a subquery: no id is bound."""
    remote = (
        RemoteLink.objects.filter(
            contact__in=contacts, connection__on_delete=Connection.OnDelete.DELETE
        )
        .values("connection__name")
        .annotate(count=Count("pk"))
        .order_by("connection__name")
    )
    return [
        DeleteLine(
            label=f"records to delete at {row['connection__name']} (their links kept until then)",
            count=row["count"],
        )
        for row in remote
    ]
