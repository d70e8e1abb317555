"""Contacts changed: their links to auto-push connections become pending, pushed on commit.

One contact at a time (contact_changed), or a batch from the import (contacts_changed), which
marks the whole batch with one call. Contacts about to be deleted keep their links to
connections that delete remote records, which are queued for that delete. The contact
admin's delete confirmation asks what happens to the links.
"""

from django.dispatch import receiver

from crm.signals import (
    contact_changed,
    contacts_changed,
    contacts_delete_summary,
    contacts_deleting,
)

from .delete_summary import contacts_delete_links_summary
from .links import links_mark_pending
from .remote_delete import remote_deletes_start


@receiver(contact_changed, dispatch_uid="integrations.links_mark_pending")
def contact_changed_mark_pending(sender, contact, **kwargs) -> None:
    links_mark_pending(contacts=[contact.pk])


@receiver(contacts_changed, dispatch_uid="integrations.links_mark_pending_bulk")
def contacts_changed_mark_pending(sender, contact_ids, **kwargs) -> None:
    links_mark_pending(contacts=contact_ids)


@receiver(contacts_deleting, dispatch_uid="integrations.remote_deletes_start")
def contacts_deleting_start_remote_deletes(sender, contact_ids, **kwargs) -> None:
    remote_deletes_start(contact_ids=contact_ids)


@receiver(contacts_delete_summary, dispatch_uid="integrations.contacts_delete_links_summary")
def contacts_delete_summarise_links(sender, contacts, **kwargs) -> list:
    return contacts_delete_links_summary(contacts=contacts)
