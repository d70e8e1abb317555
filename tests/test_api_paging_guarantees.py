"""What a client paging through the list may rely on while contacts change (docs/api.md,
"What paging guarantees"): these tests pin each promise and each stated limit."""

import datetime

import pytest

from crm.services import contact_upsert
from tests.api_helpers import CONTACTS_URL

START = datetime.datetime(2026, 12, 1, 9, 0, tzinfo=datetime.UTC)


@pytest.fixture
def contacts(time_machine):
    """Ten contacts, each changed a minute after the one before."""
    made = []
    for number in range(10):
        time_machine.move_to(START + datetime.timedelta(minutes=number), tick=False)
        made.append(contact_upsert(data={"first_name": f"P{number}"}))
    time_machine.move_to(START + datetime.timedelta(hours=1), tick=False)
    return made


def walk(client, query: str, *, after_first_page=None) -> list[int]:
    """Every id the pages return, following `next`; `after_first_page` runs once, between
    the first and the second page, as another app's writes would."""
    url, seen = f"{CONTACTS_URL}?{query}", []
    while url:
        body = client.get(url).json()
        seen += [item["id"] for item in body["results"]]
        if after_first_page is not None:
            after_first_page()
            after_first_page = None
        url = body["next"]
    return seen


def test_in_updated_at_order_a_contact_changed_while_paging_is_never_skipped(reader, contacts):
    changed_unseen, changed_seen = contacts[7], contacts[1]

    def other_app_writes():
        contact_upsert(contact=changed_unseen, data={"title": "changed"})
        contact_upsert(contact=changed_seen, data={"title": "changed"})

    seen = walk(reader, "ordering=updated_at&page_size=3", after_first_page=other_app_writes)

    assert set(seen) == {c.pk for c in contacts}  # nothing skipped
    # The change moves a contact to the end: one already returned comes again, newer.
    assert seen.count(changed_seen.pk) == 2
    assert seen.count(changed_unseen.pk) == 1


def test_a_contact_whose_ordering_value_does_not_change_is_returned_exactly_once(reader, contacts):
    def other_app_writes():
        contact_upsert(contact=contacts[8], data={"title": "changed"})
        contact_upsert(data={"first_name": "New"})

    seen = walk(reader, "ordering=created_at&page_size=3", after_first_page=other_app_writes)

    assert seen[: len(contacts)] == [c.pk for c in contacts]
    assert len(seen) == len(set(seen)) == len(contacts) + 1  # the new one comes last, once


def test_newest_first_a_contact_changed_before_its_page_is_skipped_by_this_walk(reader, contacts):
    # The documented limit of the default order: the change moves the contact to the front,
    # behind the cursor. The next incremental sync (updated_since) returns it.
    changed_unseen = contacts[2]

    seen = walk(
        reader,
        "page_size=3",
        after_first_page=lambda: contact_upsert(contact=changed_unseen, data={"title": "x"}),
    )

    assert changed_unseen.pk not in seen
    since = reader.get(f"{CONTACTS_URL}?updated_since=2026-12-01T10:00:00Z").json()
    assert [item["id"] for item in since["results"]] == [changed_unseen.pk]
