from django.apps import AppConfig

from . import sqlite_unicode


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "CRM"

    def ready(self) -> None:
        sqlite_unicode.connect()
