"""Reads of the integrations app for the admin: sync state at a glance, push progress."""

import datetime
from collections.abc import Iterable

from django.db.models import Count, QuerySet

from crm.models import Contact

from .models import Connection, RemoteLink

STATES = [state for state, _label in RemoteLink.State.choices]


def link_state_counts() -> list[dict]:
    """Per connection: its links counted by state, and the contacts it has no link for yet
    ("none": never pushed there). Connections with failures come first (most failures first),
    then paused ones, then by name. One query for the link counts, one for the contacts."""
    counts: dict[int, dict[str, int]] = {}
    linked: dict[int, int] = {}
    rows = RemoteLink.objects.order_by().values_list("connection_id", "state")
    for connection_id, state, number, with_contact in rows.annotate(
        number=Count("id"), with_contact=Count("contact_id")
    ):
        counts.setdefault(connection_id, {})[state] = number
        linked[connection_id] = linked.get(connection_id, 0) + with_contact
    summary = []
    connections = list(Connection.objects.all())
    contact_total = Contact.objects.count() if connections else 0
    for connection in connections:
        by_state = {state: counts.get(connection.pk, {}).get(state, 0) for state in STATES}
        total = sum(by_state.values())  # the links
        by_state["none"] = max(contact_total - linked.get(connection.pk, 0), 0)
        summary.append({"connection": connection, "counts": by_state, "total": total})
    summary.sort(
        key=lambda row: (
            -row["counts"]["failed"],
            not row["connection"].is_paused,
            row["connection"].name.lower(),
        )
    )
    return summary


def push_batch_progress(
    *, contacts: QuerySet[Contact], connection_ids: Iterable[int], since: datetime.datetime
) -> dict:
    """How far the pushes of these contacts to these connections, marked at `since` or later,
    got: links by state, and the latest failures with their reasons.

    `contacts` is read as a subquery, never as a list of ids, so a selection of any size is
    counted in one statement. `since` keeps out links the push did not touch.
    """
    links = RemoteLink.objects.filter(
        contact__in=contacts.order_by().values("pk"),
        connection_id__in=list(connection_ids),
        updated_at__gte=since,
    )
    by_state = dict.fromkeys(STATES, 0)
    for state, number in links.order_by().values_list("state").annotate(number=Count("id")):
        by_state[state] = number
    failures = [
        {
            "contact_id": link.contact_id,
            "contact": str(link.contact),
            "connection": link.connection.name,
            "error": ": ".join(p for p in (link.last_error_code, link.last_error_message) if p),
        }
        for link in links.filter(state=RemoteLink.State.FAILED)
        .select_related("contact", "connection")
        .order_by("-updated_at")[:20]
    ]
    return {
        # A contact that left a connection's audience may have its record deleted there.
        "queued": by_state[RemoteLink.State.PENDING] + by_state[RemoteLink.State.DELETING],
        "done": sum(
            by_state[state]
            for state in (
                RemoteLink.State.SYNCED,
                RemoteLink.State.SKIPPED,
                RemoteLink.State.DELETED,
            )
        ),
        "failed": by_state[RemoteLink.State.FAILED],
        "total": sum(by_state.values()),
        "failures": failures,
    }
