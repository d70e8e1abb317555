"""Requests per contact (issue 18): a first push of N contacts, 30 % of which each provider
already holds, counting the requests the sandbox received and the duplicates left there.

For each of GetRaze, Klen AI, Close and Contactship: a sandbox (in this process) is preloaded
with 30 % of the contacts, as someone else made them there, then N workers push them all. The
target is 1.05 requests a contact plus the inventory's pages at the providers that accept
duplicates (one create per new contact, one update per contact found in the inventory), and
at Contactship, which refuses a duplicate phone number, one request per new contact and at
most three (the refused create, the lookup, the update) per contact it holds. Pacing is off
(the connection's rate ceiling 0, no limit at the sandbox): this row counts requests, and
bench_push measures the pace.

BENCH_REQUESTS_CONTACTS (default 10,000) sets N; the dataset must hold at least N.
"""

import os
import time
from collections import Counter

import requests
from bench_push import WORKERS, drain
from common import report
from django_tasks_db.models import DBTaskResult

from crm.models import Contact
from integrations.adapters import adapter_for
from integrations.links import links_mark_pending
from integrations.models import Connection, PushAttempt, RemoteLink
from integrations.providers import adapter_class
from integrations.sandbox import start_in_thread

COUNT = int(os.environ.get("BENCH_REQUESTS_CONTACTS", "10000"))
PORT = int(os.environ.get("BENCH_REQUESTS_PORT", "8412"))
KEY = "sandbox-key"
EXISTING_SHARE = 0.3
ROOTS = {
    "getraze": "/getraze/external/v1",
    "klen": "/klen/api/v1",
    "close": "/close/api/v1",
    "contactship": "/contactship",
}


def contacts() -> list[Contact]:
    rows = Contact.objects.filter(email__endswith="@bench.example").order_by("pk")
    return list(rows.prefetch_related("tags", "phone_numbers")[:COUNT])


def connect(provider: str, base_url: str) -> Connection:
    name = f"bench requests {provider}"
    Connection.objects.filter(name=name).delete()
    connection = Connection(
        name=name,
        provider=provider,
        base_url=base_url,
        auto_push=False,
        rate_limit=0,  # no pacing: the row counts requests
        concurrency=WORKERS,
    )
    connection.api_key = KEY
    connection.save()
    return connection


def preload(connection: Connection, people: list[Contact]) -> int:
    """Make 30 % of `people` at the provider, as the provider would hold them had someone
    else made them there (our data, under the provider's own create). Returns how many."""
    adapter = adapter_for(connection)
    existing = [c for n, c in enumerate(people) if n % 10 < EXISTING_SHARE * 10]
    for contact in existing:
        adapter.create(adapter.without_empty(adapter.build_payload(contact)))
    return len(existing)


def inventory_pages(provider: str, calls: list[dict]) -> int:
    """The list requests of the inventory's read (not the lookups' filtered lists)."""
    if provider == "close":
        return sum(
            1
            for c in calls
            if c["path"] == "/data/search/"
            and (c.get("body") or {}).get("query", {}).get("type") == "object_type"
        )
    lookups = ("email", "phone", "search")
    return sum(
        1
        for c in calls
        if c["method"] == "GET" and c["path"] == "/contacts" and not set(lookups) & set(c["query"])
    )


def duplicates(provider: str, records: list[dict]) -> int:
    """Records beyond the first with the same duplicate key (as the adapter's lookup sees it)."""
    adapter = adapter_class(provider)
    if provider == "contactship":
        keys = Counter(r.get("phone_number") for r in records if r.get("phone_number"))
    else:
        keys = Counter(key for r in records for key in adapter.record_keys(r)[:1])
    return sum(n - 1 for n in keys.values() if n > 1)


def one_provider(server, provider: str, people: list[Contact]) -> None:
    control = f"{server.url}/__sandbox__/{provider}"
    requests.post(f"{control}/reset", timeout=30).raise_for_status()
    # GetRaze's code accepts a duplicate email (its docs promise a 409): the harder case.
    requests.post(f"{control}/faults", json={"unique_email": False}, timeout=30)
    connection = connect(provider, server.url + ROOTS[provider])
    held = preload(connection, people)
    before = len(requests.get(f"{control}/requests", timeout=60).json())
    DBTaskResult.objects.all().delete()
    PushAttempt.objects.all().delete()
    seconds = drain(
        connection,
        timeout=1800,
        start=lambda: links_mark_pending(contacts=[c.pk for c in people], connections=[connection]),
    )
    calls = requests.get(f"{control}/requests", timeout=60).json()[before:]
    records = requests.get(f"{control}/contacts", timeout=60).json()
    synced = RemoteLink.objects.filter(connection=connection, state="synced").count()
    n, sent, pages = len(people), len(calls), inventory_pages(provider, calls)
    if provider == "contactship":
        target = ((n - held) * 1 + held * 3) / n
        target_text = f"≤ {target:.2f} (1 a new, ≤ 3 a held)"
    else:
        target = 1.05 + pages / n
        target_text = f"≤ 1.05 + {pages} pages/N"
    per_contact = sent / n
    label = adapter_class(provider).label
    report(
        f"{label}: first push of {n:,}, 30 % there: requests/contact",
        f"{per_contact:.3f} ({sent:,})",
        target_text,
        per_contact <= target and synced == n,
    )
    dups = duplicates(provider, records)
    report(
        f"  … duplicates at {label} ({len(records):,} records, {seconds:.0f} s)",
        str(dups),
        "0",
        dups == 0 and len(records) == n,
    )
    connection.delete()


def run() -> None:
    people = contacts()
    if len(people) < COUNT:
        print(f"  only {len(people):,} bench contacts: BENCH_CONTACTS must be ≥ {COUNT:,}")
    server = start_in_thread(port=PORT, api_keys={KEY: ["contacts:read", "contacts:write"]})
    try:
        for provider in ("getraze", "klen", "close", "contactship"):
            started = time.perf_counter()
            one_provider(server, provider, people)
            print(f"    ({provider}: {time.perf_counter() - started:.0f} s)", flush=True)
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    run()
