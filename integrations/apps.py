from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Provider sync"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (connects the contact_changed receiver)
