from django.apps import AppConfig


class ApiKeysConfig(AppConfig):
    name = "apikeys"
    verbose_name = "API access"

    def ready(self) -> None:
        # Registers the X-API-Key security scheme with drf-spectacular.
        from . import schema  # noqa: F401
