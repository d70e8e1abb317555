import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from crm.chunks import chunks
from crm.models import Contact
from integrations.links import links_enqueue_pending, links_mark_pending
from integrations.models import Connection
from integrations.retention import attempts_prune


class Command(BaseCommand):
    help = "Queue pushes of contacts to a connection; the worker (db_worker) sends them."

    def add_arguments(self, parser):
        parser.add_argument(
            "--connection",
            action="append",
            default=[],
            metavar="NAME",
            help="Repeatable. Optional with --pending (default: every connection).",
        )
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--all", action="store_true", help="Every contact.")
        which.add_argument(
            "--pending",
            action="store_true",
            help="Queue again every pending link (the sweep: safe to run at any time).",
        )
        which.add_argument("--ids", help="Contact IDs, comma-separated: 1,2,3")
        parser.add_argument(
            "--every",
            type=float,
            metavar="SECONDS",
            help="With --pending: sweep forever, every SECONDS, queueing only the links whose "
            "push is overdue (their task was lost), not every pending link.",
        )
        which.add_argument(
            "--prune",
            action="store_true",
            help="Delete push attempts older than --days (links are kept). Run it daily.",
        )
        parser.add_argument(
            "--days",
            type=float,
            help="With --prune: the retention in days "
            "(default: settings.INTEGRATIONS['ATTEMPT_RETENTION_DAYS'], 30).",
        )

    def handle(self, *args, connection, all, pending, ids, prune, every, days, **options):
        if days is not None and not prune:
            raise CommandError("--days goes with --prune.")
        if prune:
            if days is not None and days < 0:
                raise CommandError("--days cannot be negative.")
            self.stdout.write(f"{attempts_prune(days=days)} push attempts deleted.")
            return
        connections = list(Connection.objects.filter(name__in=connection))
        missing = set(connection) - {c.name for c in connections}
        if missing:
            raise CommandError(f"No connection named {', '.join(sorted(missing))}.")
        if every is not None and not pending:
            raise CommandError("--every goes with --pending.")
        if pending and every is not None:
            grace = settings.INTEGRATIONS["SWEEP_GRACE_SECONDS"]
            while True:
                count = sum(
                    links_enqueue_pending(connection=c, overdue_for=grace)
                    for c in connections or [None]
                )
                if count:
                    self.stdout.write(f"{count} overdue pushes queued again.")
                time.sleep(every)
        if pending:
            count = sum(links_enqueue_pending(connection=c) for c in connections or [None])
            self.stdout.write(f"{count} pending pushes queued.")
            return
        if not connections:
            raise CommandError("Name the connection(s) to push to with --connection.")
        contacts = Contact.objects.all()
        if ids:
            try:
                wanted = {int(part) for part in ids.split(",") if part.strip()}
            except ValueError:
                raise CommandError("--ids expects numbers separated by commas.") from None
            # Looked up by chunks, so no statement binds more ids than the database allows.
            found = {
                pk
                for chunk in chunks(sorted(wanted))
                for pk in Contact.objects.filter(pk__in=chunk).values_list("pk", flat=True)
            }
            unknown = wanted - found
            if unknown:
                raise CommandError(f"No contact with ID {', '.join(map(str, sorted(unknown)))}.")
            contacts = sorted(found)  # links_mark_pending chunks a list of ids itself
        with transaction.atomic():
            count = links_mark_pending(contacts=contacts, connections=connections)
        self.stdout.write(f"{count} pushes queued.")
