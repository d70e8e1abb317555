"""Background tasks (django.tasks; run by `manage.py db_worker`). Thin: they call the engine.

Queued through `integrations.queue`, which the app hands these tasks to when it is ready.
Their import paths are stored in queued task rows: keep them.
"""

from django.tasks import task

from .push import link_push
from .triage import links_triage


@task()
def push_link(*, link_id: int) -> str:
    return str(link_push(link_id=link_id))


@task()
def push_links(*, link_ids: list[int]) -> dict[str, int]:
    """A batch of links marked pending together: settled in bulk when unchanged."""
    return {str(outcome): count for outcome, count in links_triage(link_ids=link_ids).items()}
