from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from integrations.connections import (
    connection_fields_fetch,
    connection_upsert,
    option_value_parse,
)
from integrations.crypto import SecretUnreadable
from integrations.mapping import mapping_parse, mapping_text
from integrations.models import Connection
from integrations.providers import ProviderError, default_base_url, provider_choices


def parse_option(text: str) -> tuple[str, object]:
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise CommandError(f"--option expects key=value, got {text!r}")
    return key.strip(), option_value_parse(raw)


class Command(BaseCommand):
    help = (
        "Create the connection called NAME, or update it when it exists. Without --base-url "
        "the provider's official URL is used."
    )

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument(
            "--provider", required=True, choices=[key for key, _ in provider_choices()]
        )
        parser.add_argument("--api-key", help="Required for a new connection; never printed.")
        parser.add_argument("--base-url", default="")
        parser.add_argument(
            "--auto-push",
            action="store_true",
            default=None,
            help="Push contacts when they change (a new connection is created without it).",
        )
        parser.add_argument("--no-auto-push", action="store_false", dest="auto_push")
        parser.add_argument(
            "--disabled",
            action="store_true",
            default=None,
            help="Create or set it disabled (an update without it leaves it as it is).",
        )
        parser.add_argument("--enabled", action="store_false", dest="disabled")
        parser.add_argument(
            "--concurrency",
            type=int,
            help="Pushes at once across all workers (default: as many as the pace needs).",
        )
        parser.add_argument(
            "--rate-limit",
            type=float,
            help="A ceiling in requests per second (default: the provider's own pace); 0: none.",
        )
        parser.add_argument(
            "--audience",
            metavar="QUERY",
            help=(
                "The contacts it receives, in the API's query syntax (tag=vip&stage=customer); "
                '"" for every contact.'
            ),
        )
        parser.add_argument("--mode", choices=Connection.Mode.values, help="The sync mode.")
        parser.add_argument(
            "--on-delete",
            choices=Connection.OnDelete.values,
            help="What a contact deleted here does to its remote record.",
        )
        parser.add_argument(
            "--on-leave",
            choices=Connection.OnLeave.values,
            help="What a contact leaving the audience does to its remote record.",
        )
        parser.add_argument(
            "--option",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="A provider option; a value that parses as JSON is stored as JSON. Repeatable.",
        )
        parser.add_argument(
            "--map",
            action="append",
            metavar="TARGET=SOURCE",
            help=(
                "A field mapping entry, e.g. custom_context.plan=cf:plan; SOURCE is "
                "field:<name>, cf:<key> or const:<text>. Repeatable; the entries given replace "
                "the connection's mapping (without --map it is kept)."
            ),
        )
        parser.add_argument(
            "--clear-map",
            action="store_true",
            help="Drop the connection's mapping: the provider's default mapping applies.",
        )
        parser.add_argument(
            "--fetch-fields",
            action="store_true",
            help=(
                "Close: read its contact fields (after saving the other settings), so --map is "
                "checked against them and each push checks values against their types and "
                "choices (a value outside them is left out, with a warning on its link)."
            ),
        )

    def handle(self, *args, name, provider, api_key, base_url, auto_push, disabled, **options):
        fields = {}
        exists = Connection.objects.filter(name=name).exists()
        if disabled is not None or not exists:
            fields["enabled"] = not disabled
        if auto_push is not None or not exists:
            fields["auto_push"] = bool(auto_push)
        # Only what is named changes on an update; a new connection gets the defaults.
        for field in ("concurrency", "rate_limit", "audience", "mode", "on_delete", "on_leave"):
            if options[field] is not None:
                fields[field] = options[field]
        field_map = [] if options["clear_map"] else None
        settings = {
            "name": name,
            "provider": provider,
            "api_key": api_key,
            # Without --base-url: the official URL, or for a provider that has none (a
            # webhook), the URL an update keeps.
            "base_url": base_url or (None if exists and not default_base_url(provider) else ""),
            "options": dict(parse_option(o) for o in options["option"]),
            **fields,
        }
        if options["fetch_fields"] and provider != "close":
            raise CommandError("--fetch-fields is for Close connections.")
        try:
            if options["map"]:
                field_map = mapping_parse(options["map"])
            if not options["fetch_fields"]:
                connection, created = connection_upsert(**settings, field_map=field_map)
            else:
                # The settings first (the URL and key the fetch uses), then the fields, then
                # the mapping, checked against them.
                connection, created = connection_upsert(**settings)
                self.fetch_fields(connection)
                if field_map is not None:
                    connection, _ = connection_upsert(
                        name=name, provider=provider, field_map=field_map
                    )
        except (ValueError, ValidationError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"{'Created' if created else 'Updated'} connection {connection.name}: "
            f"{connection.get_provider_display()} at {connection.base_url}, "
            f"key {connection.api_key_masked}, auto-push {'on' if connection.auto_push else 'off'}"
        )
        self.stdout.write(
            f"  audience {connection.audience or '(every contact)'}, mode {connection.mode}, "
            f"on delete {connection.on_delete}, on leave {connection.on_leave}"
        )
        mapping = mapping_text(connection.field_map)
        self.stdout.write(f"  mapping {', '.join(mapping) if mapping else '(the default)'}")

    def fetch_fields(self, connection: Connection) -> None:
        try:
            fields = connection_fields_fetch(connection=connection)
        except (ProviderError, SecretUnreadable) as exc:
            raise CommandError(f"Fetching fields: {getattr(exc, 'message', exc)}") from None
        self.stdout.write(f"Fetched {len(fields)} contact fields of {connection.name}.")
