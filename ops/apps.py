from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Running Relay CRM: scheduled upkeep, the health endpoint and alert emails."""

    name = "ops"
    verbose_name = "Operations"
