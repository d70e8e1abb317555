"""The private storage of large contact exports (settings.STORAGES["exports"]): files in
settings.CONTACT_EXPORTS_ROOT, never served by URL, downloaded only through the staff-only
view of crm.admin_export."""

from django.conf import settings
from django.core.files.storage import FileSystemStorage


class ExportsStorage(FileSystemStorage):
    def __init__(self, **kwargs):
        # Read when the storage is first used: settings/operations.py sets the folder after
        # base.py has declared STORAGES.
        kwargs.setdefault("location", settings.CONTACT_EXPORTS_ROOT)
        super().__init__(**kwargs)
