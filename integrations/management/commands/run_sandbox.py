from django.core.management.base import BaseCommand

from integrations.sandbox import make_server
from integrations.sandbox.getraze import GetRazeEmulator

# Each emulation's base URL, as a connection's base_url names it.
SERVED = ("/getraze/external/v1", "/contactship", "/klen/api/v1", "/close/api/v1")


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
        parser.add_argument("--rate-limit", type=int, default=0, help="Requests per window.")
        parser.add_argument("--rate-window", type=int, default=3600, help="Seconds.")
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
        keys = {key: GetRazeEmulator.DEFAULT_PERMISSIONS for key in api_key or ["sandbox-key"]}
        server = make_server(host, port, api_keys=keys, state_path=state or None)
        faults = {
            "latency": options["latency"],
            "error_rate": options["error_rate"],
            "rate_limit": options["rate_limit"],
            "rate_window": options["rate_window"],
            "unique_email": not options["accept_duplicates"],
        }
        for emulator in server.emulators.values():
            emulator.default_faults = faults
            emulator.set_faults(faults)  # not reset(): that would forget the records kept
        self.stdout.write(f"Sandbox on {server.url}, serving:")
        if state:
            self.stdout.write(f"  records kept in {state}")
        for prefix in SERVED:
            self.stdout.write(f"  {server.url}{prefix}")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
