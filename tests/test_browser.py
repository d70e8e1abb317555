"""Staff's daily work, driven in a real browser: Playwright with Debian's Chromium, offline.

The browser is the system Chromium (`apt-get install chromium`), never one Playwright downloads.
Without it these tests skip on a developer machine and fail in CI (the CI variable is set), so
a CI image without a browser can't pass by skipping. Pushes go to the in-process sandbox and
are drained by the real worker in batch mode, in this process (an in-memory SQLite test
database can't be shared with a subprocess). A failing test leaves a screenshot and the page's
HTML under test-artifacts/.
"""

import pytest

from crm.models import Contact, CustomField, Tag
from crm.services import contact_upsert
from integrations.models import RemoteLink
from tests import browser_helpers as browser
from tests.browser_helpers import log_in, make_connection
from tests.integrations_helpers import drain

browser_context, page, staff = browser.browser_context, browser.page, browser.staff


@pytest.fixture
def getraze(live_server, sandbox):
    return make_connection("GetRaze sandbox", sandbox)


def badge(page, contact):
    row = page.locator("#result_list tbody tr", has=page.locator(f"input[value='{contact.pk}']"))
    return row.locator(".sync-badge")


def test_staff_logs_in_adds_a_contact_with_two_phones_tags_and_a_custom_field_and_sees_it_synced(
    page, live_server, staff, getraze
):
    CustomField.objects.create(key="industry", label="Industry")
    Tag.objects.create(name="vip")
    Tag.objects.create(name="partner")
    log_in(page, live_server)

    page.click("a[href$='/admin/crm/contact/add/']")
    page.fill("#id_first_name", "Jane")
    page.fill("#id_last_name", "Smith")
    page.fill("#id_email", "jane@example.com")
    page.fill("#id_phone_numbers-0-number", "(415) 555-0100")
    page.click("#phone_numbers-group .add-row a")
    page.fill("#id_phone_numbers-1-number", "+1 415 555 0101")
    page.select_option("#id_phone_numbers-1-type", "work")
    for name in ("vip", "partner"):
        page.click("#id_tags + .select2 .select2-selection")
        page.keyboard.type(name)
        page.click(f".select2-results__option:text-is('{name}')")
    page.fill("#id_cf_industry", "Retail")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")

    jane = Contact.objects.get(email="jane@example.com")
    assert sorted(p.number.as_e164 for p in jane.phone_numbers.all()) == [
        "+14155550100",
        "+14155550101",
    ]
    assert sorted(t.name for t in jane.tags.all()) == ["partner", "vip"]
    assert jane.custom_fields == {"industry": "Retail"}
    assert badge(page, jane).get_attribute("data-state") == "pending"

    drain()
    page.reload()
    assert badge(page, jane).get_attribute("data-state") == "synced"
    # Compact: a sign and the connection's first word; its name and state on hover.
    assert badge(page, jane).inner_text() == "\u2713 GetRaze"
    assert badge(page, jane).get_attribute("title") == "GetRaze sandbox: Synced"


def test_staff_pushes_selected_contacts_to_two_connections_and_watches_the_progress(
    page, live_server, staff, sandbox
):
    make_connection("First", sandbox, auto_push=False)
    make_connection("Second", sandbox, auto_push=False)
    ann = contact_upsert(data={"first_name": "Ann", "email": "ann@example.com"})
    bob = contact_upsert(data={"first_name": "Bob", "email": "bob@example.com"})
    contact_upsert(data={"first_name": "Cat", "email": "cat@example.com"})
    log_in(page, live_server)

    page.goto(f"{live_server.url}/admin/crm/contact/")
    for contact in (ann, bob):
        page.check(f"input.action-select[value='{contact.pk}']")
    page.select_option("select[name=action]", "push_to_provider")
    page.click("button[name=index]")
    page.wait_for_selector("#push-count")
    assert page.inner_text("#push-count") == "2"
    page.check("label:has-text('First') input")
    page.check("label:has-text('Second') input")
    page.click("input[type=submit][value^='Queue']")

    page.wait_for_selector("#push-progress")
    assert page.inner_text("[data-count=queued]") == "4"
    drain()
    # The page polls its JSON twin and updates itself.
    page.wait_for_selector("#push-finished:not([hidden])")
    assert page.inner_text("[data-count=done]") == "4"
    assert page.inner_text("[data-count=failed]") == "0"
    # Finished: no "None so far", no "updates by itself".
    assert page.inner_text("#push-failures") == "None."
    assert page.locator("#push-progress .while-running").first.is_hidden()
    assert RemoteLink.objects.filter(state="synced").count() == 4


def test_staff_imports_a_small_csv_through_the_preview(page, live_server, staff):
    contact_upsert(data={"first_name": "Old", "email": "ann@example.com", "company": "Old Co"})
    csv = (
        "first_name,last_name,email,company,phones,tags\n"
        'Ann,Lee,ann@example.com,Acme,"+1 415-555-0100 (mobile); +1 415-555-0101 (work)",vip\n'
        "Bob,Ray,bob@example.com,Beta,,\n"
    )
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/crm/contact/")
    page.click("a.import_link")
    page.set_input_files(
        "input[name=import_file]",
        {"name": "contacts.csv", "mimeType": "text/csv", "buffer": csv.encode()},
    )
    page.select_option("select[name=format]", label="csv")
    page.click("input[type=submit]")

    page.wait_for_selector("#import-summary")
    assert page.inner_text("[data-count=new]") == "1"
    assert page.inner_text("[data-count=update]") == "1"
    assert page.inner_text("[data-count=invalid]") == "0"
    assert Contact.objects.count() == 1  # the preview writes nothing
    page.click("input[name=confirm]")
    # Queued: the progress page polls while the worker imports the file.
    page.wait_for_selector("#import-status")
    assert Contact.objects.count() == 1
    drain()
    page.wait_for_selector("#import-done:not([hidden])")
    assert "1 new, 1 updated" in page.inner_text("#import-done")
    assert page.inner_text("[data-count=processed]") == "2"
    assert page.locator("#import-status .while-running").is_hidden()  # no "updates by itself"

    ann = Contact.objects.get(email="ann@example.com")
    assert (ann.first_name, ann.company, ann.phone_numbers.count()) == ("Ann", "Acme", 2)
    assert Contact.objects.count() == 2


def test_staff_sees_why_a_push_failed(page, live_server, staff, getraze, sandbox):
    sandbox.faults(fail_next=1, error_status=400)
    jane = contact_upsert(data={"first_name": "Jane", "email": "jane@example.com"})
    drain()
    assert RemoteLink.objects.get(contact=jane).state == "failed"
    log_in(page, live_server)

    # The index panel counts the failure and links to the failing contacts.
    page.click("#sync-dashboard a[data-state=failed]")
    page.wait_for_selector("#result_list")
    failed = badge(page, jane)
    assert failed.get_attribute("data-state") == "failed"
    assert "INTERNAL_ERROR: Injected failure." in failed.get_attribute("title")

    # The contact's page says it in words.
    page.click(f"#result_list a[href*='/crm/contact/{jane.pk}/change/']")
    page.wait_for_selector("text=Injected failure.")
