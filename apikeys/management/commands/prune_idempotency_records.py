from django.core.management.base import BaseCommand

from apikeys.services import idempotency_records_prune, idempotency_retention


class Command(BaseCommand):
    help = "Delete Idempotency-Key records older than IDEMPOTENCY_KEY_RETENTION_HOURS."

    def handle(self, *args, **options):
        deleted = idempotency_records_prune()
        self.stdout.write(
            f"Deleted {deleted} idempotency record(s) older than {idempotency_retention()}."
        )
