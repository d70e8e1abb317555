"""The browser tests' shared pieces: Debian's Chromium driven by Playwright, a fresh page per test
(a screenshot and the HTML under test-artifacts/ when the test fails), the staff user and sign-in.

Test modules take the fixtures by assignment (`page = browser.page`), so pytest finds them.
"""

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from django.conf import settings

from integrations.models import Connection
from tests.integrations_helpers import SANDBOX_KEY

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# Headless and offline: no GPU, no QUIC, none of Chrome's own background network traffic.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
PASSWORD = "browser-test-pw"
TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def browser_context():
    if not Path(CHROMIUM).exists():
        reason = f"Chromium not found at {CHROMIUM}: install Debian's `chromium` package."
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread, which makes Django refuse ORM
    # calls from the test ("async context"); the test code itself is synchronous.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    profile = tempfile.mkdtemp(prefix="relay-chromium-")
    playwright = sync_playwright().start()
    try:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 900},
        )
        context.set_default_timeout(TIMEOUT_MS)
        yield context
        context.close()
    finally:
        playwright.stop()
        shutil.rmtree(profile, ignore_errors=True)
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser_context, request):
    browser_context.clear_cookies()
    page = browser_context.new_page()
    failed_before = request.session.testsfailed
    yield page
    # The call phase's failure is counted before teardown runs.
    if request.session.testsfailed > failed_before:
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.name)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        (ARTIFACTS / f"{name}.html").write_text(page.content())
    page.close()


@pytest.fixture
def staff(live_server, django_user_model):
    return django_user_model.objects.create_superuser("staff", "staff@example.com", PASSWORD)


def make_connection(name, sandbox, **fields):
    connection = Connection(
        name=name,
        provider="getraze",
        base_url=sandbox.base_url,
        rate_limit=0,
        **fields,
    )
    connection.api_key = SANDBOX_KEY
    connection.save()
    return connection


def log_in(page, live_server):
    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", "staff")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#sync-dashboard")
