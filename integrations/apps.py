from importlib.util import find_spec

from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Provider sync"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (connects the contact_changed receiver)

        # The REST API is optional to this app: without crm.api, no remote_links field.
        if find_spec("crm.api.extensions") is not None:
            from .api import register_contact_fields

            register_contact_fields()
