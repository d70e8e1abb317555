"""Trigram indexes for the admin and API search on PostgreSQL (`icontains` is a LIKE '%…%'
that no b-tree index serves). Other databases get nothing: SQLite scans, which is fine at the
sizes SQLite is meant for."""

from django.db import migrations

SEARCHED = [
    ("crm_contact", "first_name", True),
    ("crm_contact", "last_name", True),
    ("crm_contact", "email", True),
    ("crm_contact", "company", True),
    ("crm_phonenumber", "number", False),
]


def index_name(table: str, column: str) -> str:
    return f"{table}_{column}_trgm"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for table, column, folded in SEARCHED:
        # icontains compares UPPER(column::text); the index must be on the same expression.
        expression = f'UPPER("{column}"::text)' if folded else f'"{column}"'
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "{index_name(table, column)}" '
            f'ON "{table}" USING gin (({expression}) gin_trgm_ops)'
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, column, _ in SEARCHED:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{index_name(table, column)}"')


class Migration(migrations.Migration):
    dependencies = [("crm", "0002_description_max_length")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
