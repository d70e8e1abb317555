"""The contact as the API shows it, for what integrations send outside (webhook deliveries).

The API composes crm and integrations, so integrations may not import it; the API hands its
one representation over when it is ready (`ApiConfig.ready` calls
`contact_representation_use`), as the integrations app hands its tasks to the queue. A
webhook's `data` is thus exactly the API's detail body, never a second definition of it.
"""

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ImproperlyConfigured

Represent = Callable[[int], dict[str, Any] | None]

_represent: list[Represent] = []


def contact_representation_use(represent: Represent) -> None:
    """Hand over the function that shows one contact as the API does (None: it is gone)."""
    _represent[:] = [represent]


def contact_data(contact_id: int) -> dict[str, Any] | None:
    if not _represent:
        raise ImproperlyConfigured("The API hands its contact representation over when ready.")
    return _represent[0](contact_id)
