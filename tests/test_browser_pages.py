"""Every admin page at a laptop's width (1366 by 768) with the navigation sidebar open.

One browser visits each page, with demo-like data, and fails on: a page or a box of its main
content that scrolls sideways, breadcrumbs the stylesheet doesn't style (or a trail unlike the
model pages'), or any console error, Content-Security-Policy violations and 404s included.
"""

import io
import os
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from crm.importing import contact_import_create
from crm.models import Contact, ContactDeletion, ContactExport, ContactImport, CustomField, Tag
from crm.services import contact_upsert
from integrations.connections import connection_fields_fetch
from integrations.models import Connection, RemoteLink
from integrations.push_batches import push_batch_create
from ops.models import Alert
from tests import browser_helpers as browser
from tests.browser_helpers import log_in, make_connection
from tests.integrations_helpers import SANDBOX_KEY, drain
from tests.integrations_providers import API_ROOTS

browser_context, page, staff = browser.browser_context, browser.page, browser.staff

LAPTOP = {"width": 1366, "height": 768}
OPTIONS = {"klen": {"team_id": 1}, "close": {"lead_strategy": "by_company"}}

# What the page reports: a sideways scroll of the page or of a box in its main content, and
# its breadcrumbs (styled or not, and their trail).
LAYOUT = """() => {
  const problems = [];
  const describe = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
      + (typeof el.className === 'string' && el.className ? '.' + el.className : '');
  const root = document.scrollingElement;
  if (root.scrollWidth > root.clientWidth + 1)
    problems.push(`the page scrolls sideways: ${root.scrollWidth}px in ${root.clientWidth}px`);
  const main = document.querySelector('#content-start');
  if (main) {
    for (const el of [main, ...main.querySelectorAll('*')]) {
      // A select box scrolling its own long options is the browser's widget, not the page.
      if (!el.clientWidth || el.scrollWidth <= el.clientWidth + 1 || el.tagName === 'SELECT')
        continue;
      const overflow = getComputedStyle(el).overflowX;
      if (el === main || overflow === 'auto' || overflow === 'scroll')
        problems.push(
          `${describe(el)} scrolls sideways: ${el.scrollWidth}px in ${el.clientWidth}px`);
    }
  }
  const crumbs = document.querySelector('.breadcrumbs');
  let trail = null;
  if (crumbs) {
    const background = getComputedStyle(crumbs).backgroundColor;
    if (background === 'rgba(0, 0, 0, 0)' || crumbs.tagName !== 'OL')
      problems.push('unstyled breadcrumbs: ' + crumbs.textContent.trim().replace(/\\s+/g, ' '));
    trail = [...crumbs.querySelectorAll('li')].map((li) => li.textContent.trim());
  }
  const sidebar = document.querySelector('#nav-sidebar');
  return {problems, trail, sidebar: sidebar ? sidebar.getBoundingClientRect().width : 0};
}"""


@pytest.fixture
def demo(live_server, sandbox, staff):
    """A small CRM as make run's demo has it: contacts synced, pending and failed, a finished
    push and import, an alert."""
    CustomField.objects.create(key="industry", label="Industry")
    CustomField.objects.create(key="deal_size", label="Deal size", type="number")
    for name in ("vip", "partner", "enterprise-prospect"):
        Tag.objects.create(name=name)
    getraze = make_connection("GetRaze sandbox", sandbox)
    close = Connection(
        name="Close sandbox", provider="close", base_url=f"{sandbox.url}/close/api/v1"
    )
    close.api_key = SANDBOX_KEY
    close.rate_limit = 0
    close.save()
    # A mapping to Close's fetched fields, whose tag choices leave one of Jane's out: the
    # mapping rows and the link's warning beside its state must fit too.
    connection_fields_fetch(connection=close)
    close.field_map = [
        {"target": "custom.cf_sandboxTags", "source": "field:tags"},
        {"target": "custom.cf_sandboxIndustry", "source": "cf:industry"},
        {"target": "custom.cf_sandboxDealSize", "source": "const:1000"},
    ]
    close.save()
    jane = contact_upsert(
        data={
            "first_name": "Jane",
            "last_name": "Featherstonehaugh-Montgomery",
            "email": "jane.featherstonehaugh-montgomery@international-example-company.com",
            "company": "International Example Company and Partners",
            "title": "Chief Technology Officer",
        },
        phone_numbers=[{"number": "+14155550100"}, {"number": "+14155550101", "type": "work"}],
        tags=["vip", "partner", "enterprise-prospect"],
        custom_fields={"industry": "Retail", "deal_size": 25000},
    )
    drain()
    sandbox.faults(fail_next=1, error_status=400)
    bob = contact_upsert(data={"first_name": "Bob", "email": "bob@example.com"})
    drain()
    batch, _ = push_batch_create(
        contacts=Contact.objects.filter(pk__in=[jane.pk, bob.pk]),
        connections=[getraze, close],
        created_by=staff,
        select_across=False,
        contact_ids=[jane.pk, bob.pk],
    )
    drain()
    contact_import = contact_import_create(
        user=staff,
        file_name="contacts.csv",
        format=ContactImport.Format.CSV,
        content=b"first_name,email\nAnn,ann@example.com\n",
    )
    drain()
    contact_upsert(data={"first_name": "Cat", "email": "cat@example.com"})  # pending
    Alert.objects.create(
        key="demo", active=True, summary="Close sandbox is failing", raised_at=timezone.now()
    )
    # A large delete that failed (its long reason must wrap) and one still queued (its page
    # polls, and must raise no console error while doing so).
    failed = ContactDeletion.objects.create(
        created_by=staff,
        status=ContactDeletion.Status.FAILED,
        total=120_000,
        deleted=1500,
        error="The delete stopped: " + "a-very-long-reason-without-spaces-" * 10,
    )
    queued = ContactDeletion.objects.create(created_by=staff, total=120_000)
    exported = ContactExport.objects.create(
        created_by=staff,
        status=ContactExport.Status.DONE,
        total=120_000,
        file="contact-export-1.csv",
        file_name="Contact-2026-12-07-a-long-name-for-a-file-of-contacts.csv",
        finished_at=timezone.now(),
    )
    link = RemoteLink.objects.get(contact=jane, connection=close)
    assert "enterprise-prospect" in link.warnings
    return {
        "jane": jane,
        "close": close,
        "batch": batch,
        "import": contact_import,
        "link": link,
        "deletions": [failed, queued],
        "export": exported,
    }


def model_pages(live_server):
    """Each registered model's list, add page and first object's change, history and delete
    pages."""
    for model in apps.get_models():
        if not admin.site.is_registered(model):
            continue
        name = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        yield reverse(f"{name}_changelist"), None
        model_admin = admin.site.get_model_admin(model)
        if model_admin.has_add_permission(_AnyRequest()):
            yield reverse(f"{name}_add"), None
        obj = model.objects.order_by("pk").first()
        if obj is None:
            continue
        yield reverse(f"{name}_change", args=[obj.pk]), None
        yield reverse(f"{name}_history", args=[obj.pk]), None
        if model_admin.has_delete_permission(_AnyRequest(), obj):
            yield reverse(f"{name}_delete", args=[obj.pk]), None


class _AnyRequest:
    """has_add_permission's request, for a superuser: only the admin's own answer counts."""

    class user:
        is_active = is_staff = is_superuser = True

        @staticmethod
        def has_perm(perm, obj=None):
            return True


def custom_pages(live_server, demo):
    contacts = ["Home", "CRM", "Contacts"]
    jane = demo["jane"]
    return [
        (reverse("admin:index"), None),
        *((reverse("admin:app_list", args=[label]), None) for label in APP_LABELS),
        (reverse("admin:crm_contact_preview_payload", args=[jane.pk]), [*contacts, str(jane)]),
        (reverse("admin:crm_contact_push_progress", args=[demo["batch"].token]), contacts),
        (reverse("admin:crm_contact_import_progress", args=[demo["import"].pk]), contacts),
        *(
            (reverse("admin:crm_contact_deletion_progress", args=[deletion.pk]), contacts)
            for deletion in demo["deletions"]
        ),
        (reverse("admin:crm_contact_export_progress", args=[demo["export"].pk]), contacts),
        (reverse("admin:crm_contact_import"), contacts),
        (reverse("admin:crm_contact_export"), contacts),
        (
            reverse("admin:integrations_connection_close_fields", args=[demo["close"].pk]),
            ["Home", "Provider sync", "Connections", "Close sandbox"],
        ),
        (
            reverse("admin:integrations_connection_change", args=[demo["close"].pk]),
            ["Home", "Provider sync", "Connections", "Close sandbox"],
        ),
        (reverse("admin:integrations_remotelink_change", args=[demo["link"].pk]), None),
        (reverse("admin:crm_contact_change", args=[jane.pk]), [*contacts, str(jane)]),
        (reverse("admin:password_change"), None),
    ]


APP_LABELS = ("crm", "integrations", "ops", "apikeys", "auth")
NO_SIDEBAR = ("/admin/", "/password_change/", *(f"/admin/{label}/" for label in APP_LABELS))


def visit(page, url, trail=None):
    """Open a page and return what is wrong with it at a laptop's width."""
    response = page.goto(url)
    assert response.status == 200, f"{url}: {response.status}"
    found = page.evaluate(LAYOUT)
    problems = [f"{url}: {problem}" for problem in found["problems"]]
    # Django's index, its app pages and the password pages have no sidebar.
    if found["sidebar"] == 0 and not url.endswith(NO_SIDEBAR):
        problems.append(f"{url}: the navigation sidebar is closed")
    if trail is not None and found["trail"][: len(trail)] != trail:
        problems.append(f"{url}: breadcrumbs {found['trail']}, expected to start with {trail}")
    return problems


def test_every_admin_page_fits_a_laptop_with_the_sidebar_open(page, live_server, demo):
    errors = []
    page.on("console", lambda m: errors.append(f"{page.url}: {m.text}") if m.type == "error" else 0)
    page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
    page.set_viewport_size(LAPTOP)
    log_in(page, live_server)

    problems = []
    pages = [*custom_pages(live_server, demo), *model_pages(live_server)]
    for url, trail in pages:
        problems += visit(page, live_server.url + url, trail)

    # The pages reached by a form: the import preview and the "Push to provider…" action.
    page.goto(live_server.url + reverse("admin:crm_contact_import"))
    page.set_input_files(
        "input[name=import_file]",
        {
            "name": "contacts.csv",
            "mimeType": "text/csv",
            "buffer": b"first_name,last_name,email,company,cf_deal_size\n"
            b"Dan,Long-Surname,dan@example.com,A Company With A Long Name,1200\n",
        },
    )
    page.click("input[type=submit]")
    page.wait_for_selector("#import-summary")
    problems += visit_current(page, ["Home", "CRM", "Contacts"])

    page.goto(live_server.url + reverse("admin:crm_contact_changelist"))
    page.check(f"input.action-select[value='{demo['jane'].pk}']")
    page.select_option("select[name=action]", "push_to_provider")
    page.click("button[name=index]")
    page.wait_for_selector("#push-count")
    problems += visit_current(page, ["Home", "CRM", "Contacts"])
    # Its dry run: the table of counts for every connection, long reasons and names included.
    for box in page.locator("input[name=connections]").all():
        box.check()
    page.click("input[name=dry_run]")
    page.wait_for_selector("#dry-run")
    problems += visit_current(page, ["Home", "CRM", "Contacts"])

    # Narrower screens: the wide lists still fit, dropping columns.
    for width in (1280, 1024):
        page.set_viewport_size({"width": width, "height": 768})
        for name in ("crm_contact", "integrations_remotelink", "integrations_pushattempt"):
            problems += visit(page, live_server.url + reverse(f"admin:{name}_changelist"))

    assert problems == [], "\n".join(problems)
    assert errors == [], "\n".join(errors)


def visit_current(page, trail):
    found = page.evaluate(LAYOUT)
    problems = [f"{page.url}: {problem}" for problem in found["problems"]]
    if found["trail"][: len(trail)] != trail:
        problems.append(f"{page.url}: breadcrumbs {found['trail']}, expected {trail}…")
    return problems


def test_the_export_page_selects_all_fields_and_starts_at_a_format(page, live_server, staff):
    log_in(page, live_server)
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else 0)
    page.goto(live_server.url + reverse("admin:crm_contact_export"))
    fields = page.locator(".selectable-field-export-row input[type=checkbox]")
    assert fields.count() > 5
    assert page.locator("select[name=format] option").first.inner_text() == "csv"

    page.uncheck("input[name=select-all-toggle]")
    assert all(not box.is_checked() for box in fields.all())
    page.check("input[name=select-all-toggle]")
    assert all(box.is_checked() for box in fields.all())
    assert errors == []


@pytest.mark.skipif(
    not os.environ.get("RELAY_SCREENSHOT"),
    reason="retakes the README's screenshot: RELAY_SCREENSHOT=1 pytest -k readme_screenshot",
)
def test_the_readme_screenshot(page, live_server, sandbox, staff):
    """docs/images/contact-list.png: make run's demo data and connections, at 1366 by 768 with
    the sidebar open; most contacts synced, one push failed, a few still pending."""
    call_command("seed_demo", "--contacts", "120", "--force", stdout=io.StringIO())
    connections = []
    for provider, name in [
        ("getraze", "GetRaze sandbox"),
        ("contactship", "Contactship sandbox"),
        ("klen", "Klen sandbox"),
        ("close", "Close sandbox"),
    ]:
        connection = Connection(
            name=name,
            provider=provider,
            base_url=sandbox.url + API_ROOTS[provider],
            rate_limit=0,
            options=OPTIONS.get(provider, {}),
        )
        connection.api_key = SANDBOX_KEY
        connection.save()
        connections.append(connection)
    listed = Contact.objects.order_by("-updated_at", "-id")
    push_batch_create(
        contacts=listed, connections=connections, created_by=staff, select_across=True
    )
    drain()
    failing, *edited = list(listed[5:8])
    contact_upsert(contact=failing, data={"title": failing.title + " (acting)"})
    sandbox.faults(fail_next=1, error_status=400)  # GetRaze refuses its next push
    drain()
    for contact in edited:  # edited since: pending again, on top of the list
        contact_upsert(contact=contact, data={"title": contact.title + " (acting)"})

    page.set_viewport_size(LAPTOP)
    log_in(page, live_server)
    page.goto(live_server.url + reverse("admin:crm_contact_changelist"))
    assert page.evaluate(LAYOUT)["problems"] == []
    page.screenshot(path=str(Path(settings.BASE_DIR) / "docs/images/contact-list.png"))
