import datetime

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from apikeys.models import Scope
from apikeys.services import api_key_create, scopes_parse


class Command(BaseCommand):
    help = (
        "Create an API key and print it alone on the last line of the output. "
        "The key is stored hashed: this is the only time it is shown."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="A name that says who uses the key, e.g. 'website'.")
        parser.add_argument(
            "--scopes",
            required=True,
            help=f"Comma-separated scopes: {', '.join(Scope.values)}.",
        )
        expiry = parser.add_mutually_exclusive_group()
        expiry.add_argument("--expires-in-days", type=int, help="Expire the key after N days.")
        expiry.add_argument(
            "--expires-at", help="Expire the key at this ISO 8601 date or date and time."
        )

    def handle(self, *args, name, scopes, expires_in_days, expires_at, **options):
        try:
            scope_list = scopes_parse(scopes)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if not scope_list:
            raise CommandError("Give at least one scope.")
        expiry_date = _expiry(expires_in_days, expires_at)
        try:
            api_key, secret = api_key_create(name=name, scopes=scope_list, expiry_date=expiry_date)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        expiry = f"expires {api_key.expiry_date.isoformat()}" if expiry_date else "never expires"
        self.stdout.write(
            f"Created API key “{api_key.name}” (prefix {api_key.prefix}), "
            f"scopes {', '.join(api_key.scopes)}, {expiry}."
        )
        self.stdout.write("Store it now; it cannot be shown again. Send it as X-API-Key.")
        self.stdout.write(secret)


def _expiry(days: int | None, at: str | None) -> datetime.datetime | None:
    if days is not None:
        if days <= 0:
            raise CommandError("--expires-in-days must be positive.")
        return timezone.now() + datetime.timedelta(days=days)
    if at is None:
        return None
    try:
        value = datetime.datetime.fromisoformat(at)
    except ValueError:
        raise CommandError(f"--expires-at: “{at}” is not an ISO 8601 date.") from None
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    if value <= timezone.now():
        raise CommandError("--expires-at must be in the future.")
    return value
