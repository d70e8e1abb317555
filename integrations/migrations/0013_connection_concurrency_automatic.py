from django.db import migrations, models

OLD_DEFAULT = 2  # pushes at once, whatever the provider's pace: replaced by what the pace needs


def size_by_the_pace(apps, schema_editor):
    """Connections still at the old one-size default run as many pushes as their pace needs."""
    Connection = apps.get_model("integrations", "Connection")
    Connection.objects.filter(concurrency=OLD_DEFAULT).update(concurrency=None)


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0012_connection_field_map"),
    ]

    operations = [
        migrations.AlterField(
            model_name="connection",
            name="concurrency",
            field=models.PositiveSmallIntegerField(
                blank=True,
                default=None,
                help_text=(
                    "Pushes to this connection running at once, across all workers. Leave "
                    "empty for as many as its pace needs (2 to 8)."
                ),
                null=True,
            ),
        ),
        migrations.RunPython(size_by_the_pace, migrations.RunPython.noop),
    ]
