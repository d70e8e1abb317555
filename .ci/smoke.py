"""Production smoke test: `make serve` as an operator runs it, then what a user would check first.

Starts `make serve` (install without dev dependencies, collectstatic, migrate, then the Procfile's
web, worker and scheduler under honcho) on a free port against a fresh PostgreSQL database, and
the provider sandbox beside it. Then: a static file, an admin sign-in, /api/docs/ and /api/redoc/
and every asset they load (none from another host), /health/, one contact created through the
API and pushed by the worker to the sandbox, and the alert path: a connection given a wrong key
is paused by the worker, the scheduler emails the alert (EMAIL_URL=filemail://, ALERT_EMAILS,
alerts evaluated every few seconds), and once the key is fixed the connection resumes, pushes
what waited, and the recovery is emailed. Last, Ctrl-C (SIGINT to the process group) must stop
everything.

    .venv/bin/python .ci/smoke.py [postgres://postgres@127.0.0.1:5432/relay_smoke]

Prints one line per check and "smoke: N passed, N failed" at the end; exits 1 on any failure.
"""

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
SANDBOX_RATE = ("--rate-limit", "36000", "--rate-window", "3600")
PROD_PYTHON = ROOT / ".venv-prod" / "bin" / "python"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/relay_smoke"
START_TIMEOUT = 300  # the first `make serve` installs the production venv
PUSH_TIMEOUT = 60
ALERT_TIMEOUT = 60  # alerts are evaluated every ALERT_SECONDS in the smoke stack
ALERT_SECONDS = 3
WRONG_KEY_CONNECTION = "GetRaze wrong key"
STOP_TIMEOUT = 30

passed: list[str] = []
failed: list[str] = []


def check(name: str, ok: bool, detail: str = "") -> bool:
    (passed if ok else failed).append(name)
    print(f"{'ok' if ok else 'FAILED'}: {name}{f' ({detail})' if detail and not ok else ''}")
    return ok


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def recreate_database(url: str) -> None:
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = parts._replace(scheme="postgresql", path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def wait_for_port(port: int, stack: subprocess.Popen, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stack.poll() is not None:
            return False
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.5)
    return False


def manage(env: dict, *args: str) -> str:
    result = subprocess.run(
        [str(PROD_PYTHON), "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def loaded_assets(html: str) -> list[str]:
    """Every URL the page loads by itself: src= of any tag, href= of any tag but <a>."""
    urls = []
    for tag, attrs in re.findall(r"<(\w+)\b([^>]*)>", html):
        for attr, value in re.findall(r'\b(src|href)="([^"]*)"', attrs):
            if attr == "src" or tag.lower() != "a":
                urls.append(value)
    return urls


def probe_static_and_sign_in(base: str, password: str) -> None:
    browser = requests.Session()
    login = browser.get(f"{base}/admin/login/", timeout=10)
    check("admin sign-in page answers 200", login.status_code == 200, str(login.status_code))
    css = [u for u in loaded_assets(login.text) if u.endswith(".css")]
    if check("admin sign-in page links its stylesheets", bool(css)):
        sheet = browser.get(urljoin(base, css[0]), timeout=10)
        check(
            f"static file {css[0]} is served as CSS, cached for good",
            sheet.status_code == 200
            and sheet.headers.get("Content-Type", "").startswith("text/css")
            and "immutable" in sheet.headers.get("Cache-Control", ""),
            f"{sheet.status_code} {sheet.headers.get('Cache-Control')}",
        )
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text)
    signed_in = browser.post(
        f"{base}/admin/login/?next=/admin/",
        data={
            "csrfmiddlewaretoken": token.group(1) if token else "",
            "username": "smoke",
            "password": password,
            "next": "/admin/",
        },
        headers={"Referer": f"{base}/admin/login/"},
        timeout=10,
    )
    check(
        "admin sign-in lands on the admin index",
        signed_in.status_code == 200
        and signed_in.url.rstrip("/").endswith("/admin")
        and "Log out" in signed_in.text,
        f"{signed_in.status_code} {signed_in.url}",
    )
    contacts = browser.get(f"{base}/admin/crm/contact/", timeout=10)
    check("admin contact list answers 200", contacts.status_code == 200, str(contacts.status_code))


def probe_api_docs(base: str) -> None:
    for page in ("/api/docs/", "/api/redoc/"):
        docs = requests.get(f"{base}{page}", timeout=10)
        if not check(f"{page} answers 200", docs.status_code == 200, str(docs.status_code)):
            continue
        assets = loaded_assets(docs.text)
        here = urlsplit(base).netloc
        foreign = [u for u in assets if urlsplit(urljoin(base, u)).netloc != here]
        check(f"{page} loads nothing from another host", not foreign, ", ".join(foreign))
        broken = [
            u for u in assets if requests.get(urljoin(base, u), timeout=10).status_code != 200
        ]
        check(f"{page} assets answer 200 ({len(assets)})", bool(assets) and not broken, str(broken))
    schema = requests.get(f"{base}/api/schema/", timeout=30)
    check("/api/schema/ answers 200", schema.status_code == 200, str(schema.status_code))


def probe_health(base: str) -> None:
    health = requests.get(f"{base}/health/", timeout=10, headers={"Accept": "application/json"})
    if health.status_code == 404:
        print("skipped: /health/ (no such route in this version)")
        return
    check("/health/ answers 200", health.status_code == 200, f"{health.status_code} {health.text}")


def contact_create(base: str, api_key: str, email: str) -> str:
    """Creates a contact through the API; returns its URL ("" when refused)."""
    created = requests.post(
        f"{base}/api/v1/contacts/",
        json={"first_name": "Smoke", "last_name": "Test", "email": email},
        headers={"X-API-Key": api_key},
        timeout=10,
    )
    if not check(f"contact {email} created through the API", created.status_code == 201):
        return ""
    return f"{base}/api/v1/contacts/{created.json()['id']}/"


def contact_links(url: str, api_key: str, done, timeout: float = PUSH_TIMEOUT) -> list:
    """The contact's provider links, read until done(links) or `timeout` seconds."""

    def read() -> list:
        if not url:
            return []
        return requests.get(url, headers={"X-API-Key": api_key}, timeout=10).json()["remote_links"]

    return wait_for(read, done, timeout)


def wait_for(read, done, timeout: float):
    deadline = time.monotonic() + timeout
    value = read()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.5)
        value = read()
    return value


def synced(links: list) -> bool:
    return bool(links) and all(link["state"] == "synced" and link["remote_id"] for link in links)


def probe_push(base: str, api_key: str) -> None:
    links = contact_links(contact_create(base, api_key, "smoke@example.com"), api_key, synced)
    check("the worker pushed the contact to the sandbox", synced(links), str(links))


def mail_subjects(mail_dir: Path) -> list[str]:
    """The subjects of the emails the stack wrote (Django's file mailer: a file per process
    and connection, messages separated by a line of dashes)."""
    if not mail_dir.is_dir():
        return []
    text = "\n".join(path.read_text(errors="replace") for path in sorted(mail_dir.iterdir()))
    return re.findall(r"^Subject: (.+)$", text, re.MULTILINE)


def probe_alerts(base: str, api_key: str, env: dict, sandbox_url: str, mail_dir: Path) -> None:
    """A wrong key pauses its connection and is emailed; the fixed key resumes it, and the
    recovery is emailed."""
    manage(
        env,
        *("add_connection", WRONG_KEY_CONNECTION, "--provider", "getraze"),
        *("--api-key", "not-the-sandbox-key", "--auto-push", "--base-url", sandbox_url),
    )
    url = contact_create(base, api_key, "smoke-alert@example.com")
    alert = f"[Relay CRM] Alert: Connection {WRONG_KEY_CONNECTION} is paused"
    subjects = wait_for(
        lambda: mail_subjects(mail_dir), lambda found: alert in found, ALERT_TIMEOUT
    )
    check(
        "a wrong key pauses the connection and the alert is emailed",
        alert in subjects,
        str(subjects),
    )
    links = contact_links(url, api_key, lambda links: len(links) == 2)
    check(
        "the contact is pushed to the other connection, and waits for the paused one",
        sorted(link["state"] for link in links) == ["pending", "synced"],
        str(links),
    )

    manage(
        env,
        *("add_connection", WRONG_KEY_CONNECTION, "--provider", "getraze"),
        *("--api-key", "sandbox-key", "--base-url", sandbox_url),  # the key alone changes
    )
    recovery = f"[Relay CRM] Resolved: Connection {WRONG_KEY_CONNECTION} is paused"
    subjects = wait_for(
        lambda: mail_subjects(mail_dir), lambda found: recovery in found, ALERT_TIMEOUT
    )
    check(
        "the fixed key resumes the connection and the recovery is emailed",
        recovery in subjects,
        str(subjects),
    )
    links = contact_links(url, api_key, synced)
    check("the contact that waited is pushed once the key is fixed", synced(links), str(links))


def main() -> int:
    database_url = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_DATABASE_URL
    recreate_database(database_url)
    web_port, sandbox_port = free_port(), free_port()
    password = secrets.token_urlsafe(16)
    workdir = Path(tempfile.mkdtemp(prefix="relay-smoke-"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": database_url,
        "PORT": str(web_port),
        "STATIC_ROOT": str(workdir / "static"),
        "IMPORT_PROGRESS_CACHE_URL": f"filecache://{workdir / 'import-progress'}",
        "EMAIL_URL": f"filemail://{workdir / 'mail'}",
        "ALERT_EMAILS": "ops@example.com",
        "SCHEDULE_ALERTS": f"every {ALERT_SECONDS} seconds",
    }
    env.pop("DEBUG", None)
    base = f"http://127.0.0.1:{web_port}"
    log = (workdir / "serve.log").open("w+")
    stack = subprocess.Popen(
        ["make", "--no-print-directory", "serve"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    sandbox = None
    try:
        if not check("make serve starts gunicorn", wait_for_port(web_port, stack, START_TIMEOUT)):
            log.seek(0)
            print(log.read()[-4000:])
            return 1
        sandbox = subprocess.Popen(
            # Its providers advertise 10 requests a second (X-RateLimit-*, RateLimit), as real
            # ones advertise theirs: the connections' pace follows it.
            [
                str(PROD_PYTHON),
                "manage.py",
                "run_sandbox",
                "--port",
                str(sandbox_port),
                *SANDBOX_RATE,
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        sandbox_url = f"http://127.0.0.1:{sandbox_port}/getraze/external/v1"
        manage(
            env,
            *("add_connection", "GetRaze sandbox", "--provider", "getraze"),
            *("--api-key", "sandbox-key", "--auto-push", "--base-url", sandbox_url),
        )
        manage(
            {**env, "DJANGO_SUPERUSER_PASSWORD": password},
            *("createsuperuser", "--no-input", "--username", "smoke"),
            *("--email", "smoke@example.com"),
        )
        api_key = manage(
            env, "create_api_key", "smoke", "--scopes", "contacts:read,contacts:write"
        ).splitlines()[-1]
        wait_for_port(sandbox_port, sandbox, 30)

        probe_static_and_sign_in(base, password)
        probe_api_docs(base)
        probe_health(base)
        probe_push(base, api_key)
        probe_alerts(base, api_key, env, sandbox_url, workdir / "mail")
    except subprocess.CalledProcessError as error:
        check(" ".join(error.cmd[1:3]), False, (error.stdout or "") + (error.stderr or ""))
    finally:
        if sandbox:
            sandbox.terminate()
            sandbox.wait(timeout=10)
        if stack.poll() is None:
            stop_output = stop_stack(stack, web_port, log)
            if failed:
                print(stop_output[-4000:])
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"smoke: {len(passed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def running_in_group(pgid: int) -> list[int]:
    """Processes of this group still running (zombies waiting for a reaper have exited)."""
    running = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            running.append(int(stat.parent.name))
    return running


def stop_stack(stack: subprocess.Popen, web_port: int, log) -> str:
    """Ctrl-C as a terminal sends it: SIGINT to the whole process group."""
    os.killpg(stack.pid, signal.SIGINT)
    try:
        stack.wait(timeout=STOP_TIMEOUT)
        stopped = True
    except subprocess.TimeoutExpired:
        os.killpg(stack.pid, signal.SIGKILL)
        stack.wait()
        stopped = False
    group_gone = False
    for _ in range(STOP_TIMEOUT * 2):
        group_gone = not running_in_group(stack.pid)
        if group_gone:
            break
        time.sleep(0.5)
    log.seek(0)
    output = log.read()
    with socket.socket() as sock:
        port_closed = sock.connect_ex(("127.0.0.1", web_port)) != 0
    check(
        "Ctrl-C stops web, worker and scheduler together, without an error from make",
        stopped and group_gone and port_closed and "make: ***" not in output,
        output[-600:],
    )
    return output


if __name__ == "__main__":
    sys.exit(main())
