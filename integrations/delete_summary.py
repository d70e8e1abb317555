"""What a delete of contacts does to their provider links, for the contact admin's "Delete
selected" confirmation (crm.signals.contacts_delete_summary): by each connection's rule
(models.link_contact_deleted), the links to `keep` connections go with their attempts, and
those to `delete` connections stay to delete the remote record, counted per connection."""

from django.db.models import Count, QuerySet

from crm.selectors import DeleteLine

from .models import Connection, PushAttempt, RemoteLink


def contacts_delete_links_summary(*, contacts: QuerySet) -> list[DeleteLine]:
    """`contacts` is a query of contact ids, used as a subquery: no id is bound."""
    links = RemoteLink.objects.filter(contact__in=contacts)
    go = links.exclude(connection__on_delete=Connection.OnDelete.DELETE)
    lines = [
        DeleteLine(label="remote links", count=go.count(), model=RemoteLink),
        DeleteLine(
            label="push attempts",
            count=PushAttempt.objects.filter(link__in=go.values("pk")).count(),
            model=PushAttempt,
        ),
    ]
    remote = (
        links.filter(connection__on_delete=Connection.OnDelete.DELETE)
        .values("connection__name")
        .annotate(count=Count("pk"))
        .order_by("connection__name")
    )
    lines += [
        DeleteLine(label=f"records to delete at {row['connection__name']}", count=row["count"])
        for row in remote
    ]
    return lines
