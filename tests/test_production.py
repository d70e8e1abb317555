"""The production stack: collected static files served by WhiteNoise, no page loading anything from
another host, HTTPS behind a proxy and plain http on loopback, and deploy files that run the
Procfile's commands. `.ci/smoke.py` runs the same stack for real (`make serve`)."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.views import (
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
    SpectacularSwaggerView,
)

from config.settings import base

ROOT = Path(__file__).resolve().parent.parent
DOCS_VIEWS = (SpectacularSwaggerView, SpectacularSwaggerSplitView, SpectacularRedocView)


def loaded_urls(html: str) -> list[str]:
    """Every URL a page loads by itself: src= on any tag, href= on any tag but a link (<a>)."""
    urls = []
    for tag, attrs in re.findall(r"<(\w+)\b([^>]*)>", html):
        for attr, value in re.findall(r"\b(src|href)=[\"']([^\"']*)[\"']", attrs):
            if attr == "src" or tag.lower() != "a":
                urls.append(value)
    urls += re.findall(r"url\(\s*[\"']?([^)\"']+)", html)
    return urls


def foreign(urls: list[str]) -> list[str]:
    return [url for url in urls if urlsplit(url).netloc not in ("", "testserver")]


def api_docs_paths() -> list[str]:
    """Every page served by a drf-spectacular docs view (Swagger UI, ReDoc), wherever routed."""
    found = []

    def walk(patterns, prefix):
        for pattern in patterns:
            route = str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + route)
            elif isinstance(pattern, URLPattern) and "<" not in route:
                view_class = getattr(pattern.callback, "view_class", None)
                if view_class and issubclass(view_class, DOCS_VIEWS):
                    found.append("/" + prefix + route)

    walk(get_resolver().url_patterns, "")
    return found


@pytest.fixture(scope="module")
def collected_static(tmp_path_factory):
    static_root = tmp_path_factory.mktemp("static")
    with override_settings(STATIC_ROOT=static_root, STORAGES=base.STORAGES):
        call_command("collectstatic", "--no-input", verbosity=0)
    return static_root


@pytest.fixture
def production_static(settings, collected_static):
    """Static files as production serves them: collected, hashed, compressed, by WhiteNoise."""
    settings.STATIC_ROOT = collected_static
    settings.STORAGES = base.STORAGES
    settings.MIDDLEWARE = base.MIDDLEWARE
    settings.DEBUG = False


def fetch(client, url):
    response = client.get(url)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response, body


@pytest.mark.django_db
def test_the_admin_and_the_api_docs_load_their_assets_from_collected_static_files(
    production_static, admin_client
):
    index = admin_client.get("/admin/")
    stylesheets = [u for u in loaded_urls(index.content.decode()) if u.endswith(".css")]
    assert stylesheets
    for url in stylesheets:
        assert re.search(r"\.[0-9a-f]{12}\.css$", url), url  # hashed name, cached for good
        response, body = fetch(admin_client, url)
        assert response.status_code == 200 and response["Content-Type"].startswith("text/css")
        assert body and "immutable" in response["Cache-Control"]

    for path in api_docs_paths():
        page = admin_client.get(path)
        assets = [u for u in loaded_urls(page.content.decode()) if u.startswith("/static/")]
        assert assets, path
        for url in assets:
            response, body = fetch(admin_client, url)
            assert response.status_code == 200 and body, url


@pytest.mark.django_db
def test_no_page_loads_a_script_or_stylesheet_from_another_host(admin_client, client):
    from crm.services import contact_upsert

    contact = contact_upsert(data={"first_name": "Ada", "email": "ada@example.com"})
    docs = api_docs_paths()
    assert {"/api/docs/", "/api/redoc/"} <= set(docs)
    index = admin_client.get("/admin/").content.decode()
    admin_pages = sorted(set(re.findall(r'href="(/admin/[\w/]+/(?:add/)?)"', index)))
    assert "/admin/crm/contact/" in admin_pages

    pages = [
        (client, "/admin/login/"),
        (admin_client, "/admin/"),
        (admin_client, f"/admin/crm/contact/{contact.pk}/change/"),
        *((admin_client, page) for page in admin_pages),
        *((client, page) for page in docs),
    ]
    for http, url in pages:
        response = http.get(url)
        assert response.status_code == 200, url
        assert not foreign(loaded_urls(response.content.decode())), url

    browsable = admin_client.get("/api/v1/contacts/", headers={"Accept": "text/html"})
    assert browsable.status_code == 200 and b"<html" in browsable.content
    assert not foreign(loaded_urls(browsable.content.decode()))
    swagger_start = client.get("/api/docs/?script=").content.decode()
    assert not re.findall(r"https?://", swagger_start)


def production_settings(**environ) -> dict:
    """config.settings.production's security settings, read in a process with this environment."""
    env = {**os.environ, "SECRET_KEY": "x" * 60, **environ}
    env.pop("DEBUG", None)
    names = [
        "SECURE_SSL_REDIRECT",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_PROXY_SSL_HEADER",
        "SECURE_HSTS_SECONDS",
    ]
    script = (
        "import json, config.settings.production as s; "
        f"print(json.dumps({{n: getattr(s, n) for n in {names!r}}}))"
    )
    result = subprocess.run(  # noqa: S603 (our own settings module, in a child process)
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    ("environ", "https_only"),
    [
        ({"ALLOWED_HOSTS": "127.0.0.1"}, False),
        ({"ALLOWED_HOSTS": "localhost,127.0.0.1,[::1]"}, False),
        ({"ALLOWED_HOSTS": "crm.example.com"}, True),
        ({"ALLOWED_HOSTS": "127.0.0.1,crm.example.com"}, True),
        ({"ALLOWED_HOSTS": "*"}, True),
        ({"ALLOWED_HOSTS": "127.0.0.1", "SECURE_SSL_REDIRECT": "true"}, "redirect only"),
    ],
)
def test_production_is_https_only_unless_every_allowed_host_is_loopback(environ, https_only):
    found = production_settings(**environ)
    cookies = found["SESSION_COOKIE_SECURE"], found["CSRF_COOKIE_SECURE"]
    if https_only == "redirect only":
        assert found["SECURE_SSL_REDIRECT"] is True and cookies == (False, False)
    else:
        assert found["SECURE_SSL_REDIRECT"] is https_only and cookies == (https_only, https_only)


@pytest.mark.django_db
def test_behind_a_tls_proxy_a_request_it_forwards_is_secure_and_plain_http_is_redirected(
    settings, client
):
    for name, value in production_settings(ALLOWED_HOSTS="crm.example.com").items():
        setattr(settings, name, tuple(value) if isinstance(value, list) else value)
    settings.ALLOWED_HOSTS = ["crm.example.com"]

    plain = client.get("/admin/login/", headers={"Host": "crm.example.com"})
    assert plain.status_code == 301
    assert plain["Location"] == "https://crm.example.com/admin/login/"

    forwarded = client.get(
        "/admin/login/", headers={"Host": "crm.example.com", "X-Forwarded-Proto": "https"}
    )
    assert forwarded.status_code == 200
    assert "max-age=31536000" in forwarded["Strict-Transport-Security"]
    assert forwarded.cookies["csrftoken"]["secure"] is True


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line and not line.startswith("#"))


def test_the_systemd_units_run_the_procfile_commands():
    processes = procfile()
    assert set(processes) == {"web", "worker", "scheduler"}
    units = {
        "web": "relay-web.service",
        "worker": "relay-worker@.service",
        "scheduler": "relay-scheduler.service",
    }
    for process, unit in units.items():
        text = (ROOT / "deploy" / unit).read_text()
        (exec_start,) = re.findall(r"^ExecStart=(.+)$", text, re.MULTILINE)
        program, _, arguments = exec_start.partition(" ")
        # systemd needs the program's absolute path: the production venv's.
        assert program.startswith("/") and "/.venv-prod/bin/" in program, exec_start
        assert f"{Path(program).name} {arguments}" == processes[process], unit
        assert "EnvironmentFile=" in text and "WorkingDirectory=" in text
        assert "Environment=DJANGO_SETTINGS_MODULE=config.settings.production" in text


def test_every_environment_variable_is_documented_in_deploy_md():
    sources = [*(ROOT / "config" / "settings").glob("*.py"), ROOT / "deploy" / "gunicorn.conf.py"]
    names = set()
    for source in sources:
        text = source.read_text()
        names |= set(re.findall(r"\benv\.\w+\(\s*\"([A-Z_]+)\"", text))
        names |= set(re.findall(r"os\.environ\.get\(['\"]([A-Z_]+)['\"]", text))
    deploy_md = (ROOT / "docs" / "deploy.md").read_text()
    assert {"SECRET_KEY", "DATABASE_URL", "ALLOWED_HOSTS", "PORT", "STATIC_ROOT"} <= names
    assert not [name for name in sorted(names) if f"`{name}`" not in deploy_md]


CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


def offline_browser_page(live_server, monkeypatch, path: str, read) -> tuple[object, list, list]:
    """Opens `path` in a real browser, offline: every request leaving our host is refused and
    recorded, as are the console's errors (a CSP refusal among them). Returns what
    `read(page)` found, the refused URLs and the errors."""
    if not Path(CHROMIUM).exists():
        reason = f"Chromium not found at {CHROMIUM}: install Debian's `chromium` package."
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test itself uses no ORM.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    elsewhere, errors = [], []

    def keep_on_our_host(route):
        if route.request.url.startswith(live_server.url + "/"):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page()
            page.route("**/*", keep_on_our_host)
            page.on("console", lambda message: message.type == "error" and errors.append(message))
            page.goto(f"{live_server.url}{path}")
            found = read(page)
        finally:
            browser.close()
    return found, elsewhere, [message.text for message in errors]


def test_swagger_ui_renders_with_every_request_kept_on_our_host(live_server, monkeypatch):
    def read(page):
        page.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
        return page.inner_text(".swagger-ui .info .title"), page.locator(".opblock").count()

    (title, operations), elsewhere, errors = offline_browser_page(
        live_server, monkeypatch, "/api/docs/", read
    )
    assert title.startswith("Relay CRM API") and operations > 0
    assert not elsewhere
    assert not errors


def test_redoc_renders_with_every_request_kept_on_our_host(live_server, monkeypatch):
    def read(page):
        page.wait_for_selector(".api-info h1", timeout=30_000)
        return page.inner_text(".api-info h1"), page.locator("[data-section-id^=operation]").count()

    (title, operations), elsewhere, errors = offline_browser_page(
        live_server, monkeypatch, "/api/redoc/", read
    )
    assert title.startswith("Relay CRM API") and operations > 0
    assert not elsewhere
    # ReDoc's "API docs by Redocly" footer shows the Redocly logo from its CDN: the policy
    # refuses it before any request leaves (the footer's link stays). Nothing else fails.
    refused_logo = "Loading the image 'https://cdn.redoc.ly/redoc/logo-mini.svg' violates"
    assert [error for error in errors if not error.startswith(refused_logo)] == []
