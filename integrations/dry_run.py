"""The dry run of "Push to provider…": what a push of a selection would do at each chosen
connection, counted without sending a request or writing a row.

The push's own rules decide, not a copy of them: the audience (`audience_includes`), the
adapter's payload (`build_payload`), its hash (`payload_hash`) and the rule for a push that
needs no request (`push.settled_without_request`: the provider's skip reasons, unchanged by
hash, create only). What is left needs a request; whether it is an update or a create is the
link's remote ID, and for a contact without one, `new_record_actions` says what the push tries.

Built for bulk, as the push is: the selection's ids in one query, then per chunk of them one
query for the contacts, one per related table the payloads read (tags, phone numbers) and one
for the links to every chosen connection, plus one per connection with an audience. Never a
query per contact (a webhook's payload is the exception: it is the API's own representation,
read by the adapter contact by contact). The contacts are read by `crm.bulk_read`: their tags
and phones as plain values rather than a model instance per row, the same payloads for a
fraction of the time (docs/benchmarks.md, "The push's dry run").
"""

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import requests
from django.db import router
from django.db.models import QuerySet

from crm.bulk_read import contacts_in_bulk
from crm.models import Contact

from .adapters import adapter_for, payload_hash
from .audience import audience_includes
from .crypto import SecretUnreadable
from .inventory import inventory_matches
from .links import ids_per_statement
from .models import Connection, RemoteLink
from .providers import Adapter, adapter_class
from .push import Result, settled_without_request
from .push_send import not_at_provider_reason

# Room left in a statement for an audience's own filter values (a few, in practice).
AUDIENCE_PARAMETERS = 100

# What the push does for one contact, as counted (skips are counted by their reason).
CREATE = "create"  # no remote record linked: a lookup, then a create or a match (see below)
LOOK_UP = "look_up"  # update only, no remote record linked: updated if found, else skipped
UPDATE = "update"  # a linked remote record whose payload changed
UNCHANGED = "unchanged"  # a linked remote record that already has this payload: no request
OUTSIDE = "outside"  # outside the connection's audience
REMOTE_DELETE = "remote_delete"  # of OUTSIDE: its remote record deleted (on_leave delete)
FAILS = "fails"  # the payload can't be built: the push records the error on the link
# Update only, and the inventory knows the provider has no record: skipped by the push.
NOT_AT_PROVIDER = "not_at_provider"


@dataclass
class DryRun:
    """One connection's counts for a selection."""

    connection: Connection
    contacts: int = 0
    counts: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)  # {reason: contacts}
    # {warning: contacts}: values the mapping leaves out of payloads that are sent
    warnings: Counter = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)

    @property
    def create(self) -> int:
        return self.counts[CREATE]

    @property
    def look_up(self) -> int:
        return self.counts[LOOK_UP]

    @property
    def update(self) -> int:
        return self.counts[UPDATE]

    @property
    def unchanged(self) -> int:
        return self.counts[UNCHANGED]

    @property
    def outside(self) -> int:
        return self.counts[OUTSIDE]

    @property
    def remote_delete(self) -> int:
        return self.counts[REMOTE_DELETE]

    @property
    def fails(self) -> int:
        return self.counts[FAILS]

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    @property
    def skipped_reasons(self) -> list[tuple[str, int]]:
        """The reasons, most frequent first (then alphabetical, so the order is stable)."""
        return _most_first(self.skipped)

    @property
    def top_warnings(self) -> list[tuple[str, int]]:
        """The most frequent warnings: each may name a contact's own value, so there may be
        as many as contacts."""
        return _most_first(self.warnings)[:WARNINGS_SHOWN]

    @property
    def more_warnings(self) -> int:
        return max(0, len(self.warnings) - WARNINGS_SHOWN)


WARNINGS_SHOWN = 5


def _most_first(counter: Counter) -> list[tuple[str, int]]:
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))


class NothingSent(requests.Session):
    """The dry run's adapters' session: a request would be a bug, so it fails loudly."""

    def request(self, method, url, *args, **kwargs):
        raise RuntimeError(f"A dry run sends nothing: {method} {url} was attempted.")


def push_dry_run(
    *, connections: Iterable[Connection], contacts: QuerySet[Contact] | Iterable[int]
) -> list[DryRun]:
    """What a push of `contacts` to each of `connections` would do, one DryRun each, in the
    connections' order. Reads only; sends nothing."""
    runs = [DryRun(connection) for connection in connections]
    if not runs:
        return []
    adapters = [_adapter(run) for run in runs]
    if isinstance(contacts, QuerySet):
        contact_ids = list(contacts.order_by().values_list("pk", flat=True))
    else:
        contact_ids = list(dict.fromkeys(contacts))
    # What settled_without_request reads of a link the push creates: no remote record yet.
    # One unsaved instance per connection, read and never saved.
    unlinked = [RemoteLink(connection=run.connection) for run in runs]
    # A chunk's ids are bound beside the connections' ids (the links) or an audience's values.
    for chunk in _chunks(contact_ids, reserved=len(runs) + AUDIENCE_PARAMETERS):
        by_pk = contacts_in_bulk(ids=chunk)
        links = _links(chunk, [run.connection for run in runs])
        for run, adapter, new in zip(runs, adapters, unlinked, strict=True):
            inside = audience_includes(run.connection, by_pk)
            unmatched = []  # the payloads of contacts with no remote record linked yet
            for contact in by_pk.values():
                link = links.get((contact.pk, run.connection.pk), new)
                payload = _count(run, adapter, contact, link, inside=contact.pk in inside)
                if payload is not None:
                    unmatched.append(payload)
            if unmatched:
                actions = new_record_actions(
                    connection=run.connection, adapter=adapter, payloads=unmatched
                )
                skipped = actions.count(NOT_AT_PROVIDER)
                if skipped:
                    run.skipped[not_at_provider_reason(adapter.label)] += skipped
                run.counts.update(action for action in actions if action != NOT_AT_PROVIDER)
    return runs


def new_record_actions(
    *, connection: Connection, adapter: Adapter, payloads: list[dict]
) -> list[str]:
    """What a push does for each contact with no remote record linked to `connection` (their
    payloads, a chunk at a time): a list of actions in the payloads' order.

    Where the connection's inventory of the provider's records is fresh, it tells, as it does
    for the push (integrations.inventory): a record it holds is updated (linked as it is in
    the mode "create only", counted with "created or matched"); none, the contact is created
    (skipped in the mode "update only"). Where it can't tell (a stale inventory, a provider
    that is asked first), the push's lookup decides: CREATE, shown as "created or matched",
    or, in the mode "update only", LOOK_UP (updated if found, else skipped).
    """
    update_only = connection.mode == Connection.Mode.UPDATE_ONLY
    create_only = connection.mode == Connection.Mode.CREATE_ONLY
    actions = []
    for match in inventory_matches(connection=connection, payloads=payloads):
        if not match.known:
            actions.append(LOOK_UP if update_only else CREATE)
        elif match.remote_id:
            actions.append(CREATE if create_only else UPDATE)
        else:
            actions.append(NOT_AT_PROVIDER if update_only else CREATE)
    return actions


def _adapter(run: DryRun) -> Adapter:
    """The connection's adapter as a push builds it (so its payloads are the push's), on a
    session that sends nothing; notes what holds the push back."""
    connection = run.connection
    if not connection.enabled:
        run.notes.append("Disabled: its pushes wait until it is enabled again.")
    elif connection.is_paused:
        run.notes.append("Paused: its pushes wait until it is resumed.")
    try:
        adapter = adapter_for(connection)
    except SecretUnreadable:
        run.notes.append("Its API key can't be read: the push pauses the connection.")
        # Payloads and skip reasons need no key.
        adapter = adapter_class(connection.provider)(
            base_url=connection.base_url,
            api_key="",
            options=connection.options,
            field_map=connection.field_map,
            provider_fields=connection.provider_fields,
        )
    adapter.session = NothingSent()
    return adapter


def _chunks(contact_ids: list[int], *, reserved: int) -> Iterator[list[int]]:
    size = ids_per_statement(using=router.db_for_read(RemoteLink), reserved=reserved)
    for start in range(0, len(contact_ids), size):
        yield contact_ids[start : start + size]


def _links(contact_ids: list[int], connections: list[Connection]) -> dict:
    """{(contact id, connection id): link} of these contacts to these connections, each link
    holding its connection (settled_without_request reads its mode and name)."""
    by_pk = {connection.pk: connection for connection in connections}
    rows = RemoteLink.objects.filter(contact_id__in=contact_ids, connection_id__in=by_pk)
    found = {}
    # Whole rows: a field left out would be read back link by link by whatever rule reads it.
    for link in rows.order_by():
        link.connection = by_pk[link.connection_id]
        found[link.contact_id, link.connection_id] = link
    return found


def _count(
    run: DryRun, adapter: Adapter, contact: Contact, link: RemoteLink, *, inside: bool
) -> dict | None:
    """Count what the push does for one contact, in link_push's order of decisions; a contact
    with no remote record linked yet is left to `new_record_actions`: its payload is returned."""
    connection = run.connection
    run.contacts += 1
    if not inside:
        run.counts[OUTSIDE] += 1
        deletes = connection.on_leave == Connection.OnLeave.DELETE and link.remote_id
        if deletes and adapter.delete_path is not None:
            run.counts[REMOTE_DELETE] += 1
        return
    try:
        payload = adapter.build_payload(contact)
        settled = settled_without_request(link, adapter, payload, payload_hash(payload))
    except Exception:  # the push fails this contact visibly; here it is counted
        run.counts[FAILS] += 1
        return
    if settled is not None and settled[0] != Result.UNCHANGED:
        run.skipped[settled[2]["last_error_message"]] += 1
        return None
    # The payload is sent, or already there: the link shows what it left out either way.
    run.warnings.update(set(adapter.payload_warnings))
    if settled is not None:
        run.counts[UNCHANGED] += 1
    elif link.remote_id:
        run.counts[UPDATE] += 1
    else:
        return payload
    return None
