"""API: list throughput under gunicorn against a bare values() view, and create latency."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests
from common import ROOT, median_ms, report
from django.test import Client

from apikeys.services import api_key_create
from crm.models import Contact

PORT = int(os.environ.get("BENCH_PORT", "8410"))
CLIENT_THREADS = 4
SECONDS = 8.0


def api_key() -> str:
    return api_key_create(
        name=f"bench-{time.time_ns()}", scopes=["contacts:read", "contacts:write"]
    )[1]


def gunicorn() -> subprocess.Popen:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.bench"}
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "config.wsgi:application",
            f"--bind=127.0.0.1:{PORT}",
            "--workers=2",
            "--log-level=warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            # Also warms both workers up: their first request loads the URLconf and apps.
            for _ in range(4):
                requests.get(f"http://127.0.0.1:{PORT}/bench/bare-contacts/", timeout=30)
            return server
        except requests.ConnectionError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("gunicorn did not start")


def throughput(url: str, headers: dict) -> float:
    """Requests per second from a few client threads, for a fixed time."""
    done = [0] * CLIENT_THREADS
    deadline = time.perf_counter() + SECONDS

    def client(index: int) -> None:
        session = requests.Session()
        while time.perf_counter() < deadline:
            response = session.get(url, headers=headers, timeout=10)
            assert response.status_code == 200, response.text[:200]
            done[index] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENT_THREADS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) / (time.perf_counter() - started)


def list_vs_bare() -> None:
    key = api_key()
    server = gunicorn()
    try:
        base = f"http://127.0.0.1:{PORT}"
        bare = throughput(f"{base}/bench/bare-contacts/", {})
        narrow = throughput(f"{base}/bench/bare-contacts-narrow/", {})
        api = throughput(f"{base}/api/v1/contacts/?page_size=100", {"X-API-Key": key})
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=10)
    ratio = api / bare
    report("API list, page of 100 (gunicorn, 2 workers): req/s", f"{api:.0f} req/s", "-", None)
    report("bare values() + JsonResponse, same rows: req/s", f"{bare:.0f} req/s", "-", None)
    report("API list ÷ bare view", f"{ratio:.2f}×", "≥ 0.5×", ratio >= 0.5)
    # Informational: the baseline used until 2026-12-02, seven of the rows' columns.
    report("bare view, 7 columns only: req/s", f"{narrow:.0f} req/s", "-", None)
    report("API list ÷ 7-column bare view", f"{api / narrow:.2f}×", "-", None)


def create_latency() -> None:
    client = Client(headers={"X-API-Key": api_key()})
    counter = iter(range(10**9))

    def create() -> None:
        n = next(counter)
        body = {
            "first_name": "Bench",
            "last_name": f"Create{n}",
            "email": f"bench.create.{time.time_ns()}.{n}@bench-create.example",
            "phone_numbers": [{"number": f"+1415{2_000_000 + n}"}, {"number": "+14155550100"}],
            "tags": ["bench-tag-1", "bench-tag-2", "bench-tag-3"],
            "custom_fields": {
                "industry": "Retail",
                "deal_size": 1200,
                "newsletter": True,
                "last_meeting": "2026-05-01",
                "segment": "smb",
            },
        }
        response = client.post("/api/v1/contacts/", body, content_type="application/json")
        assert response.status_code == 201, response.content[:300]

    ms = median_ms(create, runs=50, warmup=5)
    Contact.objects.filter(email__endswith="@bench-create.example").delete()
    report(
        "API create with 2 phones, 3 tags, 5 custom fields: median",
        f"{ms:.1f} ms",
        "≤ 30 ms",
        ms <= 30,
    )


def run() -> None:
    list_vs_bare()
    create_latency()


if __name__ == "__main__":
    run()
