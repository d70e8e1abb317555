from django.apps import AppConfig


class ApiConfig(AppConfig):
    """The REST API: composes crm and integrations, and nothing imports it."""

    name = "api"
    verbose_name = "REST API"

    def ready(self) -> None:
        # What a webhook delivers is the contact as the API shows it (integrations.representation).
        from integrations.representation import contact_representation_use

        from .contacts.representation import contact_representation

        contact_representation_use(contact_representation)
