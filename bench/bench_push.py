"""Pushing: throughput to a 50 ms sandbox, re-push of unchanged contacts, the bulk admin
action, and contact saves while an auto-push provider hangs.

Runs real processes: the sandbox (`run_sandbox`) and N workers (`db_worker`) on the bench DB.
BENCH_PUSH_CONTACTS (default 10,000) sets how many contacts are pushed.
"""

import os
import socket
import statistics
import subprocess
import sys
import threading
import time

import requests
from bench_admin import staff_client
from common import ROOT, report
from django.db import connection
from django_tasks_db.models import DBTaskResult

from crm.models import Contact
from crm.services import contact_upsert
from integrations.links import links_mark_pending
from integrations.models import Connection, ConnectionSlot, PushAttempt, RemoteLink

COUNT = int(os.environ.get("BENCH_PUSH_CONTACTS", "10000"))
SANDBOX_PORT = int(os.environ.get("BENCH_SANDBOX_PORT", "8411"))
LATENCY = 0.05
# The rate limit is what binds: 60 requests/s is 30 new contacts/s (a lookup and a create
# each). Workers and concurrency leave headroom over the 2 x 50 ms a push spends waiting for
# answers plus its database work (8 x 1/30 s = 267 ms a push at the ceiling), so the shared
# schedule is always booked ahead and no rate budget goes unused. With 4 and 4, a push may
# take only 133 ms, and the database work between the two answers made 4 slots the limit.
CONCURRENCY = 8
RATE_LIMIT = 60.0  # requests per second
WORKERS = 8
MANAGE = [sys.executable, str(ROOT / "manage.py")]
ENV = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.bench"}


def spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*MANAGE, *args], cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def sandbox(*options: str, port: int = SANDBOX_PORT) -> subprocess.Popen:
    """`run_sandbox` with 50 ms latency (and `options`) on `port`, once it accepts connections."""
    process = spawn("run_sandbox", "--port", str(port), "--latency", str(LATENCY), *options)
    for _ in range(600):  # Django's start-up takes a while on a busy machine
        if process.poll() is not None:
            raise RuntimeError(f"sandbox exited ({process.returncode}): is port {port} free?")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.1)
    process.terminate()
    raise RuntimeError("sandbox did not start")


def sandbox_requests() -> int:
    control = f"http://127.0.0.1:{SANDBOX_PORT}/__sandbox__/getraze/requests"
    return len(requests.get(control, timeout=30).json())


def contacts() -> list[int]:
    return list(
        Contact.objects.filter(email__endswith="@bench.example")
        .order_by("pk")
        .values_list("pk", flat=True)[:COUNT]
    )


def drain(connection_obj: Connection, *, timeout: float, start=None) -> float:
    """Run workers until no link of the connection is pending; return the seconds it took.

    With `start` (a callable that queues the pushes), the clock starts when it is called,
    once every worker is up and polling: workers run all the time in production, so their
    start-up (a second or two of Django set-up each, on a busy 2-core machine) is no part of
    how fast a push goes through.
    """
    connected = _backends()
    workers = [
        spawn("db_worker", "--interval", "0.05", "--no-startup-delay") for _ in range(WORKERS)
    ]
    stop = threading.Event()
    vacuuming = threading.Thread(target=_stand_in_for_autovacuum, args=(stop,), daemon=True)
    vacuuming.start()
    try:
        if start is not None:
            ready_by = time.perf_counter() + 60
            while _backends() < connected + WORKERS and time.perf_counter() < ready_by:
                time.sleep(0.1)
            start()
        started = time.perf_counter()
        while time.perf_counter() - started < timeout:
            if not RemoteLink.objects.filter(connection=connection_obj, state="pending").exists():
                break
            time.sleep(0.1)
        return time.perf_counter() - started
    finally:
        stop.set()
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=30)
        vacuuming.join(timeout=60)


# The tables a push rewrites: its link (claimed, then settled), its task, its slot lease and
# the connection's rate schedule, several row versions each per push.
CHURNED = (RemoteLink, DBTaskResult, PushAttempt, ConnectionSlot, Connection)


def _stand_in_for_autovacuum(stop: threading.Event, every: float = 10.0) -> None:
    """VACUUM the churned tables every few seconds while workers run, when the server's
    autovacuum is off (as on the machine in docs/benchmarks.md).

    10,000 pushes leave over 60,000 dead row versions in these tables, which every later
    claim and lookup walks through. Production servers run autovacuum, which does this. (It
    did not move the full run's push rate measurably; see docs/benchmarks.md.)
    """
    from django.db import connection as own  # this thread's own connection

    try:
        with own.cursor() as cursor:
            cursor.execute("SHOW autovacuum")
            if cursor.fetchone()[0] == "on":
                return
            while not stop.wait(every):
                for model in CHURNED:
                    cursor.execute(f'VACUUM "{model._meta.db_table}"')
    finally:
        own.close()


def _backends() -> int:
    """Database sessions open on the bench database: a worker opens one when it first polls."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return cursor.fetchone()[0]


def fresh_connection(name: str, base_url: str, **fields) -> Connection:
    Connection.objects.filter(name=name).delete()
    return Connection.objects.create(
        name=name,
        provider="getraze",
        base_url=base_url,
        api_key="sandbox-key",
        auto_push=False,
        **fields,
    )


def push_throughput_and_repush() -> None:
    DBTaskResult.objects.all().delete()
    PushAttempt.objects.all().delete()
    # The sandbox advertises RATE_LIMIT in its X-RateLimit headers (10-second windows), which
    # the connection's pace follows; RATE_LIMIT is also the connection's ceiling.
    box = sandbox("--rate-limit", str(int(RATE_LIMIT * 10)), "--rate-window", "10")
    try:
        base_url = f"http://127.0.0.1:{SANDBOX_PORT}/getraze/external/v1"
        bench = fresh_connection(
            "bench sandbox", base_url, concurrency=CONCURRENCY, rate_limit=RATE_LIMIT
        )
        ids = contacts()
        seconds = drain(
            bench,
            timeout=1800,
            start=lambda: links_mark_pending(contacts=ids, connections=[bench]),
        )
        synced = RemoteLink.objects.filter(connection=bench, state="synced").count()
        sent = sandbox_requests()
        limited = PushAttempt.objects.filter(http_status=429).count()
        # A new contact costs two requests at GetRaze (the lookup first, then the create).
        ceiling = min(RATE_LIMIT, CONCURRENCY / LATENCY) / 2
        rate = synced / seconds
        report(
            f"push {synced:,} new contacts, 50 ms latency: contacts/s",
            f"{rate:.1f} /s",
            f"≥ 95% of {ceiling:.0f} /s",
            rate >= 0.95 * ceiling and synced == len(ids),
        )
        report("  … 429 answers while the limit was configured", str(limited), "0", limited == 0)
        report("  … HTTP requests sent", f"{sent:,}", f"{2 * len(ids):,} (lookup+create)", None)

        before = sandbox_requests()
        DBTaskResult.objects.all().delete()
        marked_at = []

        def mark() -> None:
            # Marked and queued as the admin action and push_contacts do: the time runs from
            # here (the workers already polling) to the last link settled.
            marked_at.append(time.perf_counter())
            links_mark_pending(contacts=ids, connections=[bench])

        drain(bench, timeout=600, start=mark)
        seconds = time.perf_counter() - marked_at[0]
        batches = DBTaskResult.objects.filter(task_path="integrations.tasks.push_links").count()
        singles = DBTaskResult.objects.filter(task_path="integrations.tasks.push_link").count()
        extra = sandbox_requests() - before
        report(
            f"re-push {len(ids):,} unchanged contacts: HTTP requests", str(extra), "0", extra == 0
        )
        report("  … tasks run: batches / single pushes", f"{batches:,} / {singles:,}", "-", None)
        report(
            f"re-push {len(ids):,} unchanged contacts: time",
            f"{seconds:.1f} s",
            "≤ 10 s",
            seconds <= 10,
        )
    finally:
        box.terminate()
        box.wait(timeout=10)


def admin_push_action() -> None:
    client = staff_client()
    target = fresh_connection("bench action", "http://127.0.0.1:9/", concurrency=1)
    last = contacts()[-1]
    data = {
        "action": "push_to_provider",
        "select_across": "1",
        "index": "0",
        "_selected_action": [str(last)],
        "apply": "1",
        "connections": [str(target.pk)],
    }
    started = time.perf_counter()
    response = client.post(f"/admin/crm/contact/?id__lte={last}", data)
    seconds = time.perf_counter() - started
    queued = RemoteLink.objects.filter(connection=target, state="pending").count()
    assert response.status_code in (200, 302), response.status_code
    report(
        f"admin 'Push to provider…' on {queued:,} contacts: request",
        f"{seconds:.2f} s",
        "≤ 2 s",
        seconds <= 2 and queued >= min(COUNT, 10_000),
    )
    target.delete()
    DBTaskResult.objects.all().delete()


def admin_dry_run() -> None:
    """The "Dry run" button of the same action on the same 10,000 contacts: counted without
    a request, half of them linked already (their links read, their payloads compared)."""
    client = staff_client()
    target = fresh_connection("bench dry run", "http://127.0.0.1:9/", concurrency=1)
    ids = contacts()
    RemoteLink.objects.bulk_create(
        RemoteLink(contact_id=pk, connection=target, state="synced", remote_id=f"r{pk}")
        for pk in ids[::2]
    )
    data = {
        "action": "push_to_provider",
        "select_across": "1",
        "index": "0",
        "_selected_action": [str(ids[-1])],
        "dry_run": "Dry run",
        "connections": [str(target.pk)],
    }
    samples, cpu = [], []
    for _ in range(3):  # the median of three: one request is a second's worth of noise
        started, cpu_started = time.perf_counter(), time.process_time()
        response = client.post(f"/admin/crm/contact/?id__lte={ids[-1]}", data)
        samples.append(time.perf_counter() - started)
        # This process's CPU (the request runs in it): on a loaded machine, the wall time
        # is mostly waiting for a core.
        cpu.append(time.process_time() - cpu_started)
        assert response.status_code == 200, response.status_code
        assert b'id="dry-run"' in response.content
    seconds = statistics.median(samples)
    report(
        f"admin 'Push to provider…' dry run on {len(ids):,} contacts: request",
        f"{seconds:.2f} s (CPU {statistics.median(cpu):.2f} s)",
        "≤ 1.5 s",
        seconds <= 1.5 and len(ids) >= min(COUNT, 10_000),
    )
    target.delete()


def hanging_provider() -> socket.socket:
    """A server that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    held = []
    threading.Thread(
        target=lambda: [held.append(listener.accept()) for _ in iter(int, 1)], daemon=True
    ).start()
    return listener


def save_with_hanging_provider() -> None:
    contact = Contact.objects.filter(email__endswith="@bench.example").first()
    counter = iter(range(10**9))

    def save() -> None:
        contact_upsert(contact=contact, data={"title": f"Engineer {next(counter)}"})

    Connection.objects.filter(auto_push=True).update(auto_push=False)
    listener = hanging_provider()
    port = listener.getsockname()[1]
    hung = fresh_connection("bench hanging", f"http://127.0.0.1:{port}/", enabled=True)
    worker = spawn("db_worker", "--interval", "0.05", "--no-startup-delay")

    def switched(auto_push: bool):
        def run() -> float:
            Connection.objects.filter(pk=hung.pk).update(auto_push=auto_push)
            started = time.perf_counter()
            save()
            return (time.perf_counter() - started) * 1000

        return run

    # The two kinds of save alternate, so a load change on the machine (other benchmarks, the
    # worker waking up) weighs on both medians alike.
    alone_samples, hung_samples = [], []
    try:
        for _ in range(2):  # warm-up
            switched(False)(), switched(True)()
        for _ in range(40):
            alone_samples.append(switched(False)())
            hung_samples.append(switched(True)())
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        hung.delete()
        listener.close()
    alone, with_hang = statistics.median(alone_samples), statistics.median(hung_samples)
    ratio = with_hang / alone
    report("contact save, no connection: median", f"{alone:.1f} ms", "-", None)
    report(
        "contact save, auto-push provider hanging: median",
        f"{with_hang:.1f} ms ({ratio:.2f}×)",
        "≤ 1.2× the above",
        ratio <= 1.2,
    )


def run() -> None:
    admin_push_action()
    admin_dry_run()
    save_with_hanging_provider()
    push_throughput_and_repush()


if __name__ == "__main__":
    if connection.vendor != "postgresql":
        print("bench_push wants PostgreSQL (several worker processes share the queue)")
    run()
