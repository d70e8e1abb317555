from django.db import migrations

CASE_INSENSITIVE_INDEXES = ("crm_tag_name_ci_unique", "crm_contact_email_ci_unique")


def reindex_on_sqlite(apps, schema_editor):
    # Rebuilt with crm.sqlite_unicode's LOWER, which folds every letter (SQLite's own folded
    # ASCII only), so rows written before agree with the index again.
    if schema_editor.connection.vendor != "sqlite":
        return
    for name in CASE_INSENSITIVE_INDEXES:
        schema_editor.execute(f"REINDEX {schema_editor.quote_name(name)}")


class Migration(migrations.Migration):
    dependencies = [("crm", "0004_contactimport")]

    operations = [migrations.RunPython(reindex_on_sqlite, migrations.RunPython.noop)]
