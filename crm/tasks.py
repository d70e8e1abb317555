"""Background tasks (django.tasks; run by `manage.py db_worker`). Thin: they call the services."""

from django.tasks import task


@task()
def contact_import(*, import_id: int) -> str:
    from .importing import contact_import_run

    return contact_import_run(import_id=import_id)
