from django.apps import AppConfig


class ApiKeysConfig(AppConfig):
    name = "apikeys"
    verbose_name = "API access"

    def ready(self) -> None:
        # Registers the X-API-Key security scheme with drf-spectacular, and the system checks.
        from . import checks, schema  # noqa: F401
