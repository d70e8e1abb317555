"""Background tasks (django.tasks; run by `manage.py db_worker`). Thin: they call the services."""

from django.tasks import task

from .import_run import contact_import_run


@task()
def contact_import(*, import_id: int) -> str:
    return contact_import_run(import_id=import_id)
