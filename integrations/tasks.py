"""Background tasks (django.tasks; run by `manage.py db_worker`). Thin: they call the engine."""

from django.tasks import task


@task()
def push_link(*, link_id: int) -> str:
    from .push import link_push

    return str(link_push(link_id=link_id))
