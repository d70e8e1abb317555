from django.core.management.base import BaseCommand, CommandError

from integrations.sandbox import make_server
from integrations.sandbox.getraze import GetRazeEmulator
from integrations.sandbox.run import EMULATORS

# Each emulation's base URL, as a connection's base_url names it.
SERVED = ("/getraze/external/v1", "/contactship", "/klen/api/v1", "/close/api/v1")
PROVIDERS = tuple(emulator.name for emulator in EMULATORS)
PER_PROVIDER = "A number for every provider, or PROVIDER=NUMBER for one (repeatable)."


def per_provider(values: list[str], option: str) -> dict[str, float]:
    """`--option 5 --option close=2` as {provider: number}: a bare number applies to every
    provider, and a later value wins over an earlier one."""
    numbers: dict[str, float] = {}
    for value in values:
        name, _, number = value.rpartition("=")
        if name and name not in PROVIDERS:
            raise CommandError(f"{option} {value}: no provider {name!r} ({', '.join(PROVIDERS)})")
        try:
            parsed = float(number)
        except ValueError:
            raise CommandError(f"{option} {value}: {number!r} is not a number") from None
        if parsed < 0:
            raise CommandError(f"{option} {value}: must not be negative")
        numbers.update(dict.fromkeys([name] if name else PROVIDERS, parsed))
    return numbers


def rate_knobs(options: dict) -> dict[str, dict]:
    """Each provider's rate-limit knobs from the command's options: its documented limit
    (with --documented-rates, each window --rate-scale times shorter), then --rate-limit
    and --rate-window over it."""
    limits = per_provider(options["rate_limit"], "--rate-limit")
    windows = per_provider(options["rate_window"], "--rate-window")
    scales = per_provider(options["rate_scale"], "--rate-scale")
    if options["rate_scale"] and not options["documented_rates"]:
        raise CommandError("--rate-scale shortens the documented windows: add --documented-rates")
    if any(window == 0 for window in windows.values()):
        raise CommandError("--rate-window must be above 0 seconds")
    knobs = {}
    for emulator in EMULATORS:
        name, own = emulator.name, {}
        if options["documented_rates"]:
            try:
                own = emulator.documented_rate_knobs(scales.get(name, 1.0))
            except ValueError as exc:
                raise CommandError(f"--rate-scale: {exc}") from None
        if name in limits:
            own["rate_limit"] = int(limits[name])
        if name in windows:
            own["rate_window"] = windows[name]
        knobs[name] = own
    return knobs


class Command(BaseCommand):
    help = (
        "Serve the provider sandbox, each provider under its own prefix: "
        "/getraze/external/v1, /contactship, /klen/api/v1, /close/api/v1. "
        "Knobs can be changed while it runs: POST /__sandbox__/<provider>/faults."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8001)
        parser.add_argument(
            "--api-key",
            action="append",
            default=[],
            help="A key the sandbox accepts (repeatable; default: sandbox-key).",
        )
        parser.add_argument("--latency", type=float, default=0.0, help="Seconds per answer.")
        parser.add_argument("--error-rate", type=float, default=0.0, help="Share of 5xx, 0..1.")
        parser.add_argument(
            "--documented-rates",
            action="store_true",
            help="Each provider enforces its documented rate limit and sends its documented "
            "rate headers: GetRaze 1,000 an hour (X-RateLimit-*), Close 20 a second, 100 "
            "every 5 s (RateLimit), Klen AI 60 a minute (no headers); Contactship documents none.",
        )
        parser.add_argument(
            "--rate-scale",
            action="append",
            default=[],
            help="With --documented-rates: each window this many times shorter, with as many "
            "requests in it (GetRaze at 60: 1,000 a minute). " + PER_PROVIDER,
        )
        parser.add_argument(
            "--rate-limit",
            action="append",
            default=[],
            help="Requests per window (0: none). " + PER_PROVIDER,
        )
        parser.add_argument(
            "--rate-window",
            action="append",
            default=[],
            help="Seconds (default 3600). " + PER_PROVIDER,
        )
        parser.add_argument(
            "--state",
            default="",
            help="A JSON file that keeps the records (and the latest requests) across restarts; "
            "`make run` uses .cache/sandbox.json. Without it, a restart starts empty.",
        )
        parser.add_argument(
            "--accept-duplicates",
            action="store_true",
            help="No 409 on a duplicate email, as GetRaze's code behaves.",
        )

    def handle(self, *args, host, port, api_key, state, **options):
        rates = rate_knobs(options)
        keys = {key: GetRazeEmulator.DEFAULT_PERMISSIONS for key in api_key or ["sandbox-key"]}
        server = make_server(host, port, api_keys=keys, state_path=state or None)
        for name, emulator in server.emulators.items():
            faults = {
                "latency": options["latency"],
                "error_rate": options["error_rate"],
                "unique_email": not options["accept_duplicates"],
                **rates[name],
            }
            emulator.default_faults = faults
            emulator.set_faults(faults)  # not reset(): that would forget the records kept
        self.stdout.write(f"Sandbox on {server.url}, serving:")
        if state:
            self.stdout.write(f"  records kept in {state}")
        for prefix in SERVED:
            self.stdout.write(f"  {server.url}{prefix}")
        for name, knobs in rates.items():
            if knobs.get("rate_limit"):
                window = knobs.get("rate_window", 3600)
                self.stdout.write(f"  {name}: {knobs['rate_limit']} requests per {window:g} s")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
