"""CSV import of 10,000 rows, end to end as in production, and its preview.

The file is made in a temporary directory: names, email, company, title, address, phones,
tags, the five bench custom fields (choice, number, date, boolean, text), 1,000 rows updating
contacts by email (typed in upper case) and 100 rows without an email. An auto-push connection
(never reached: no worker runs) makes the import mark links pending and queue pushes, as it
would in production.

Measured: the admin's preview (a dry run through ContactResource) of the file with five
invalid rows and a repeated email, then the real import: `contact_import_create` stores the
file and queues the task, and the task runs in this process (`contact_import.call`, what
`db_worker` runs). Everything the bench made (contacts, tags, links, queued tasks, admin
history, the import row, the connection and user) is deleted afterwards, so the bench dataset
stays as it was. BENCH_IMPORT_ROWS (default 10,000) sets the size.
"""

import csv
import os
import random
import tempfile
import time
from pathlib import Path

from common import report
from dataset import FIELDS
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Q
from django_tasks_db.models import DBTaskResult
from import_export.formats.base_formats import CSV

from crm.importing import contact_import_create
from crm.models import Contact, ContactImport, CustomField, Tag
from crm.resources import ContactResource
from crm.tasks import contact_import
from integrations.models import Connection

ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", "10000"))
UPDATES = ROWS // 10
NO_EMAIL = ROWS // 100
DOMAIN = "@import.bench.example"
TARGET_SECONDS = 20.0
COLUMNS = [
    "first_name",
    "last_name",
    "email",
    "company",
    "title",
    "address",
    "city",
    "state",
    "zip_code",
    "country",
    "stage",
    "phones",
    "tags",
    *(f"cf_{key}" for key, _type, _choices in FIELDS),
]


def make_rows(rng: random.Random) -> list[dict]:
    rows = []
    for n in range(ROWS):
        if n < UPDATES:
            email = f"UPDATE.{n}{DOMAIN}".upper()
        elif n < UPDATES + NO_EMAIL:
            email = ""
        else:
            email = f"new.{n}{DOMAIN}"
        phones = f"+1 646-{200 + n // 10000:03d}-{n % 10000:04d} (mobile)"
        if n % 3 == 0:
            phones += f"; (718) {200 + n // 10000:03d}-{n % 10000:04d} (work, do not call)"
        rows.append(
            {
                "first_name": rng.choice(["Ada", "Grace", "Alan", "Linus", "Barbara"]),
                "last_name": f"Importer{n}",
                "email": email,
                "company": f"Imported Co {n % 700}",
                "title": rng.choice(["Engineer", "CTO", "Buyer", ""]),
                "address": f"{n} Market Street",
                "city": "Springfield",
                "state": "IL",
                "zip_code": f"{60000 + n % 1000}",
                "country": rng.choice(["US", "GB", "DE", ""]),
                "stage": rng.choice(["lead", "Prospect", "customer"]),
                "phones": phones,
                "tags": ", ".join(rng.sample([f"import-bench-{i}" for i in range(20)], 3)),
                "cf_industry": rng.choice(FIELDS[0][2]),
                "cf_deal_size": str(rng.randrange(1000, 100000)),
                "cf_last_meeting": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                "cf_newsletter": rng.choice(["true", "false", "yes", ""]),
                "cf_segment": rng.choice(["smb", "mid", "enterprise"]),
            }
        )
    return rows


def write_csv(path: Path, rows: list[dict]) -> bytes:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path.read_bytes()


def database_cpu() -> float | None:
    """CPU seconds used so far by this connection's PostgreSQL backend, when it runs on this
    machine: with the process's own CPU time, what the import costs, whatever the load."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")


def run() -> None:
    for key, type_, choices in FIELDS:
        CustomField.objects.get_or_create(
            key=key,
            defaults={"label": key.replace("_", " ").title(), "type": type_, "choices": choices},
        )
    last_contact = Contact.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    last_tag = Tag.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    started_at = (
        DBTaskResult.objects.order_by("-enqueued_at").values_list("enqueued_at", flat=True).first()
    )
    user = get_user_model().objects.create_user("import-bench", is_staff=True)
    push_connection = Connection(
        name="import-bench", provider="getraze", base_url="http://127.0.0.1:9", auto_push=True
    )
    push_connection.api_key = "bench"
    push_connection.save()
    # The contacts the file updates, made directly (not measured).
    Contact.objects.bulk_create(
        [
            Contact(first_name="Old", last_name=f"Importer{n}", email=f"update.{n}{DOMAIN}")
            for n in range(UPDATES)
        ]
    )
    rng = random.Random(ROWS)
    rows = make_rows(rng)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            invalid = [dict(row) for row in rows]
            for n in (11, 222, 3333 % ROWS, 4444 % ROWS, 5555 % ROWS):
                invalid[n]["phones"] = "not a phone"
            invalid[ROWS - 1]["email"] = invalid[ROWS - 2]["email"] or "x" + DOMAIN
            write_csv(Path(tmp) / "invalid.csv", invalid)
            text = (Path(tmp) / "invalid.csv").read_text(encoding="utf-8")
            started = time.perf_counter()
            preview = ContactResource().import_data(
                CSV().create_dataset(text), dry_run=True, rollback_on_validation_errors=True
            )
            seconds = time.perf_counter() - started
            report(
                f"CSV import preview, {ROWS:,} rows ({preview.totals['invalid']} invalid)",
                f"{seconds:.1f} s",
                "-",
                None,
            )

            content = write_csv(Path(tmp) / "contacts.csv", rows)
            started, cpu, db_cpu = time.perf_counter(), time.process_time(), database_cpu()
            row = contact_import_create(
                user=user, file_name="contacts.csv", format="csv", content=content
            )
            status = contact_import.call(import_id=row.pk)
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            if db_cpu is not None:
                db_cpu = database_cpu() - db_cpu
        row.refresh_from_db()
        if status != ContactImport.Status.DONE:
            raise RuntimeError(f"the bench import failed: {row.error[:500]}")
        print(
            f"    {row.new:,} new, {row.updated:,} updated, {row.skipped:,} unchanged "
            f"in {seconds:.1f} s: {cpu:.1f} s of CPU in this process"
            + (f", {db_cpu:.1f} s in its PostgreSQL backend" if db_cpu is not None else "")
        )
        report(
            f"CSV import of {ROWS:,} rows",
            f"{seconds:.1f} s",
            f"≤ {TARGET_SECONDS:.0f} s",
            seconds <= TARGET_SECONDS,
        )
    finally:
        cleanup(last_contact, last_tag, started_at, user, push_connection)


def cleanup(last_contact, last_tag, started_at, user, push_connection) -> None:
    with transaction.atomic():
        made = Contact.objects.filter(Q(pk__gt=last_contact) | Q(email__endswith=DOMAIN))
        while ids := list(made.order_by("pk").values_list("pk", flat=True)[:2000]):
            Contact.objects.filter(pk__in=ids).delete()
        Tag.objects.filter(pk__gt=last_tag).delete()
        tasks = DBTaskResult.objects.all()
        if started_at is not None:
            tasks = tasks.filter(enqueued_at__gt=started_at)
        # The import's own task and the pushes it queued (push_link, or push_links batches).
        tasks.filter(
            Q(task_path="crm.tasks.contact_import")
            | Q(task_path__startswith="integrations.tasks.push")
        ).delete()
        ContactImport.objects.filter(created_by=user).delete()
        LogEntry.objects.filter(user=user).delete()
        push_connection.delete()
        user.delete()


if __name__ == "__main__":
    run()
