"""Background tasks (django.tasks; run by `manage.py db_worker`). Thin: they call the engine."""

from django.tasks import task


@task()
def push_link(*, link_id: int) -> str:
    from .push import link_push

    return str(link_push(link_id=link_id))


@task()
def push_links(*, link_ids: list[int]) -> dict[str, int]:
    """A batch of links marked pending together: settled in bulk when unchanged."""
    from .push import links_triage

    return {str(outcome): count for outcome, count in links_triage(link_ids=link_ids).items()}
