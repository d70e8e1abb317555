"""The bench dataset: N contacts × 2 phones × 3 tags × 5 custom fields, made with bulk inserts.

Run alone: `.venv/bin/python bench/dataset.py [N]` (default 100,000). Reused when present.
"""

import random
import sys
import time

from common import settings
from django.core.management import call_command
from django.db import connection, transaction

from crm.models import Contact, CustomField, PhoneNumber, Tag

CHUNK = 5_000
TAGS = [f"bench-tag-{i}" for i in range(30)]
FIELDS = [
    ("industry", CustomField.Type.CHOICE, ["Software", "Retail", "Finance", "Health"]),
    ("deal_size", CustomField.Type.NUMBER, []),
    ("last_meeting", CustomField.Type.DATE, []),
    ("newsletter", CustomField.Type.BOOLEAN, []),
    ("segment", CustomField.Type.TEXT, []),
]
FIRST = ["Ada", "Grace", "Alan", "Linus", "Barbara", "Ken", "Margaret", "Dennis", "Frances"]
LAST = ["Lovelace", "Hopper", "Turing", "Torvalds", "Liskov", "Thompson", "Hamilton", "Ritchie"]


def ensure_database() -> None:
    """Create the PostgreSQL database when it does not exist yet, then migrate."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("postgresql"):
        import psycopg

        params = {
            k: v
            for k, v in {
                "host": db["HOST"],
                "port": db["PORT"] or None,
                "user": db["USER"],
                "password": db["PASSWORD"] or None,
            }.items()
            if v
        }
        with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
            exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]])
            if exists.fetchone() is None:
                admin.execute(f'CREATE DATABASE "{db["NAME"]}"')
    call_command("migrate", verbosity=0)


def ensure_dataset(size: int) -> int:
    ensure_database()
    have = Contact.objects.filter(email__endswith="@bench.example").count()
    if have >= size:
        return have
    started = time.perf_counter()
    rng = random.Random(size)
    tags = [Tag.objects.get_or_create(name=name)[0] for name in TAGS]
    for key, type_, choices in FIELDS:
        CustomField.objects.get_or_create(
            key=key,
            defaults={"label": key.replace("_", " ").title(), "type": type_, "choices": choices},
        )
    through = Contact.tags.through
    for start in range(have, size, CHUNK):
        stop = min(size, start + CHUNK)
        with transaction.atomic():
            contacts = Contact.objects.bulk_create(
                [_contact(n, rng) for n in range(start, stop)], batch_size=1000
            )
            phones = [
                (c.pk, bench_number(2 * n + i), "mobile" if i == 0 else "work", i == 0, False)
                for n, c in zip(range(start, stop), contacts, strict=True)
                for i in range(2)
            ]
            links = [(c.pk, tag.pk) for c in contacts for tag in rng.sample(tags, 3)]
            _insert(PhoneNumber, ["contact", "number", "type", "is_primary", "do_not_call"], phones)
            _insert(through, ["contact", "tag"], links)
        print(f"    dataset: {stop:,} contacts", end="\r", flush=True)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    print(f"    dataset: {size:,} contacts made in {time.perf_counter() - started:.0f} s")
    return size


def _insert(model, names: list[str], rows: list[tuple]) -> None:
    """Rows as they are stored, by COPY on PostgreSQL: bulk_create made a model instance of
    each, which for a phone number means parsing it (a third of the dataset's time)."""
    if connection.vendor != "postgresql":
        attnames = [model._meta.get_field(name).attname for name in names]  # contact_id, …
        model.objects.bulk_create([model(**dict(zip(attnames, row, strict=True))) for row in rows])
        return
    columns = ", ".join(f'"{model._meta.get_field(name).column}"' for name in names)
    statement = f'COPY "{model._meta.db_table}" ({columns}) FROM STDIN'
    with connection.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def bench_number(n: int) -> str:
    """Unique per row and well-formed (exchange 200-999), so a phone search finds one contact."""
    return f"+1212{2_000_000 + n}"


def _contact(n: int, rng: random.Random) -> Contact:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    return Contact(
        first_name=first,
        last_name=f"{last}{n}",
        email=f"{first}.{last}.{n}@bench.example".lower(),
        company=f"Company {n % 5000}",
        title="Engineer",
        city="Springfield",
        country=rng.choice(["US", "GB", "BR", "DE"]),
        custom_fields={
            "industry": rng.choice(FIELDS[0][2]),
            "deal_size": rng.randrange(1000, 100000),
            "last_meeting": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            "newsletter": rng.random() < 0.5,
            "segment": rng.choice(["smb", "mid", "enterprise"]),
        },
    )


if __name__ == "__main__":
    ensure_dataset(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)


def vacuum() -> None:
    """VACUUM ANALYZE the bench database, so each benchmark starts on fresh statistics and
    without the dead rows the previous one left (pushes rewrite every link they touch).
    Autovacuum may be off, or too slow to catch up between two benchmarks."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
