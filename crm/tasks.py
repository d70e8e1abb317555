"""Background tasks (django.tasks; run by `manage.py db_worker`). Thin: they call the services."""

from django.tasks import task

from .bulk_delete_run import contact_deletion_run
from .bulk_export_run import contact_export_run
from .import_run import contact_import_run


@task()
def contact_import(*, import_id: int) -> str:
    return contact_import_run(import_id=import_id)


@task()
def contact_deletion(*, deletion_id: int) -> str:
    return contact_deletion_run(deletion_id=deletion_id)


@task()
def contact_export(*, export_id: int) -> str:
    return contact_export_run(export_id=export_id)
