"""Contacts changed: their links to auto-push connections become pending, pushed on commit.

One contact at a time (contact_changed), or a batch from the import (contacts_changed), which
marks the whole batch with one call. A deleted contact's remote deletes are queued when its
delete commits. The contact admin's delete confirmation asks what happens to the links.
"""

from django.db.models.signals import post_delete
from django.dispatch import receiver

from crm.models import Contact
from crm.signals import contact_changed, contacts_changed, contacts_delete_summary

from .delete_summary import contacts_delete_links_summary
from .links import links_mark_pending
from .remote_delete import remote_deletes_queue


@receiver(contact_changed, dispatch_uid="integrations.links_mark_pending")
def contact_changed_mark_pending(sender, contact, **kwargs) -> None:
    links_mark_pending(contacts=[contact.pk])


@receiver(contacts_changed, dispatch_uid="integrations.links_mark_pending_bulk")
def contacts_changed_mark_pending(sender, contact_ids, **kwargs) -> None:
    links_mark_pending(contacts=contact_ids)


@receiver(post_delete, sender=Contact, dispatch_uid="integrations.remote_deletes_queue")
def contact_deleted_queue_remote_deletes(sender, instance, using, **kwargs) -> None:
    # Its links to connections that delete remote records were kept, `deleting`, by the
    # delete itself (models.link_contact_deleted); they are queued once it commits.
    remote_deletes_queue(using=using)


@receiver(contacts_delete_summary, dispatch_uid="integrations.contacts_delete_links_summary")
def contacts_delete_summarise_links(sender, contacts, **kwargs) -> list:
    return contacts_delete_links_summary(contacts=contacts)
