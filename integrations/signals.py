"""A contact changed: its links to auto-push connections become pending, pushed on commit."""

from django.dispatch import receiver

from crm.signals import contact_changed

from .services import links_mark_pending


@receiver(contact_changed, dispatch_uid="integrations.links_mark_pending")
def contact_changed_mark_pending(sender, contact, **kwargs) -> None:
    links_mark_pending(contacts=[contact.pk])
