"""Contacts changed: their links to auto-push connections become pending, pushed on commit.

One contact at a time (contact_changed), or a batch from the import (contacts_changed), which
marks the whole batch with one call.
"""

from django.dispatch import receiver

from crm.signals import contact_changed, contacts_changed

from .links import links_mark_pending


@receiver(contact_changed, dispatch_uid="integrations.links_mark_pending")
def contact_changed_mark_pending(sender, contact, **kwargs) -> None:
    links_mark_pending(contacts=[contact.pk])


@receiver(contacts_changed, dispatch_uid="integrations.links_mark_pending_bulk")
def contacts_changed_mark_pending(sender, contact_ids, **kwargs) -> None:
    links_mark_pending(contacts=contact_ids)
