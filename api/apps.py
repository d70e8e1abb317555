from django.apps import AppConfig


class ApiConfig(AppConfig):
    """The REST API: composes crm and integrations, and nothing imports it."""

    name = "api"
    verbose_name = "REST API"
