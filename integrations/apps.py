from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Provider sync"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (connects the contact_changed receiver)
        from .api import register_contact_extensions

        register_contact_extensions()
