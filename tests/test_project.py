from io import StringIO

import pytest
from django.core.management import call_command

from crm.models import Contact, CustomField, PhoneNumber


@pytest.mark.django_db
def test_system_checks_pass():
    call_command("check", fail_level="WARNING")


@pytest.mark.django_db
def test_migrations_match_the_models():
    call_command("makemigrations", "--check", "--dry-run", stdout=StringIO())


@pytest.mark.django_db
def test_seed_demo_is_idempotent(settings, django_user_model):
    settings.DEBUG = True
    out = StringIO()
    call_command("seed_demo", "--contacts", "25", stdout=out)
    assert "25 created" in out.getvalue()
    assert "demo / " in out.getvalue()
    counts = (Contact.objects.count(), PhoneNumber.objects.count(), CustomField.objects.count())
    assert counts[0] == 25 and counts[1] > 0 and counts[2] == 5

    out = StringIO()
    call_command("seed_demo", "--contacts", "25", stdout=out)
    assert "0 created, 25 in all" in out.getvalue()
    assert (
        Contact.objects.count(),
        PhoneNumber.objects.count(),
        CustomField.objects.count(),
    ) == counts
    assert django_user_model.objects.filter(username="demo", is_staff=True).count() == 1


@pytest.mark.django_db
def test_seed_demo_refuses_to_run_without_debug(settings):
    settings.DEBUG = False
    with pytest.raises(Exception, match="DEBUG"):
        call_command("seed_demo", stdout=StringIO())


@pytest.mark.django_db
def test_demo_contacts_are_valid_under_the_write_rules(settings):
    settings.DEBUG = True
    call_command("seed_demo", "--contacts", "10", stdout=StringIO())
    for contact in Contact.objects.prefetch_related("phone_numbers"):
        contact.full_clean()
        phones = list(contact.phone_numbers.all())
        assert not phones or sum(p.is_primary for p in phones) == 1


def test_production_settings_pass_the_deploy_checks(tmp_path):
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": "x" * 64 + "production-like-secret-for-the-check",
        "ALLOWED_HOSTS": "crm.example.com",
    }
    env.pop("DEBUG", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.django_db
def test_admin_pages_carry_a_content_security_policy_their_scripts_satisfy(admin_client):
    import re

    from crm.services import contact_upsert

    contact = contact_upsert(data={"first_name": "Ada", "email": "ada@example.com"})
    for url in ("/admin/", "/admin/crm/contact/", f"/admin/crm/contact/{contact.pk}/change/"):
        response = admin_client.get(url)
        policy = response["Content-Security-Policy"]
        nonce = re.search(r"'nonce-([^']+)'", policy).group(1)
        assert "script-src 'self'" in policy
        assert "object-src 'none'" in policy and "frame-ancestors 'none'" in policy
        for tag in re.findall(r"<script\b[^>]*>", response.content.decode()):
            # Same-origin files, or inline with this response's nonce: nothing else runs.
            src = re.search(r'src="([^"]*)"', tag)
            assert (src and src.group(1).startswith("/")) or f'nonce="{nonce}"' in tag, tag


@pytest.mark.django_db
def test_swagger_ui_runs_under_the_sites_own_policy_without_a_cdn(client):
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    policy = docs["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "https:" not in policy and "cdn" not in policy
    assert "<script>" not in docs.content.decode()  # its start-up script is a file
    assert client.get("/api/docs/?script=").status_code == 200


@pytest.mark.django_db
def test_redoc_runs_under_the_sites_own_policy_from_our_static_files(client):
    redoc = client.get("/api/redoc/")
    assert redoc.status_code == 200
    assert "https:" not in redoc["Content-Security-Policy"]
    html = redoc.content.decode()
    assert "<script>" not in html and "https://" not in html  # no inline script, no web font
    assert '<script src="/static/drf_spectacular_sidecar/redoc/bundles/' in html
    assert '<redoc spec-url="/api/schema/"' in html


@pytest.mark.django_db
def test_postgresql_prepares_a_statement_run_repeatedly():
    # DATABASE_PREPARE_THRESHOLD (default 5) with server-side binding: the API list's page is
    # then neither parsed nor planned again on each request.
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    statement = "SELECT count(*) FROM crm_contact WHERE id > %s"
    with connection.cursor() as cursor:
        for value in range(6):
            cursor.execute(statement, [value])
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            ["SELECT count(*) FROM crm_contact WHERE id > $1%"],
        )
        assert cursor.fetchone()[0] == 1


def test_the_favicon_is_the_sites_icon_not_a_404(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"] == "/static/crm/favicon.svg"
    from django.contrib.staticfiles import finders

    assert finders.find("crm/favicon.svg")
