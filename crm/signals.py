"""Signals the contact domain sends, so other apps can react without crm importing them."""

from django.dispatch import Signal

# Sent once a contact and everything attached to it (phones, tags, custom fields) is written,
# inside the writing transaction. Arguments: contact, created.
contact_changed = Signal()
