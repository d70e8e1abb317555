"""Field mapping per connection, over real HTTP against the sandbox: entries TARGET=SOURCE reach
the provider (custom fields, our fields, constants), the preview shows them, bad entries are
refused clearly (service, command, admin), and a value outside a Close field's choices is left
out of a push that succeeds, with the warning on the link and in the preview."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection as db_connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from crm.models import Contact, CustomField
from crm.services import contact_upsert
from integrations.admin.preview import payload_preview
from integrations.connections import connection_fields_fetch, connection_upsert
from integrations.mapping import MappingInvalid
from integrations.models import Connection, RemoteLink
from integrations.push import Result, link_push
from tests.integrations_helpers import SANDBOX_KEY
from tests.integrations_providers import provider_sandbox

OPTIONS = {"klen": {"team_id": 1}}


@pytest.fixture
def fields(db):
    CustomField.objects.create(key="plan", label="Plan", type="text")
    CustomField.objects.create(key="seats", label="Seats", type="number")
    CustomField.objects.create(key="renewal", label="Renewal", type="date")
    CustomField.objects.create(key="industry", label="Industry", type="text")


def connect(sandbox_server, provider: str, entries: list[dict] | None = None, **fields):
    box = provider_sandbox(sandbox_server, provider)
    connection, _ = connection_upsert(
        name=f"{provider} mapped",
        provider=provider,
        api_key=SANDBOX_KEY,
        base_url=box.base_url,
        options=OPTIONS.get(provider),
        field_map=entries,
        auto_push=False,
        rate_limit=0,
        **fields,
    )
    return connection, box


def entries(*texts: str) -> list[dict]:
    return [dict(zip(("target", "source"), t.split("=", 1), strict=True)) for t in texts]


def ann(**custom):
    return contact_upsert(
        data={"first_name": "Ann", "email": "ann@example.com", "company": "Acme", "city": "Oslo"},
        phone_numbers=[{"number": "+14155552671"}],
        tags=["vip", "brand-new-tag"],
        custom_fields={"plan": "pro", "seats": 12, "renewal": "2027-01-31", **custom},
    )


def push(connection, contact) -> RemoteLink:
    link, _ = RemoteLink.objects.get_or_create(contact=contact, connection=connection)
    RemoteLink.objects.filter(pk=link.pk).update(state=RemoteLink.State.PENDING)
    result = link_push(link_id=link.pk)
    link.refresh_from_db()
    assert result in (Result.SYNCED, Result.UNCHANGED), (result, link.last_error_message)
    return link


def last_body(box) -> dict:
    return [r for r in box.requests() if r["method"] in ("POST", "PUT", "PATCH")][-1]["body"]


# --- what reaches the provider -----------------------------------------------------------------


def test_a_klen_mapping_sends_the_custom_field_there_and_the_preview_shows_it(
    sandbox_server, fields, staff_client
):
    connection, box = connect(sandbox_server, "klen", entries("custom_context.plan=cf:plan"))
    contact = ann()

    push(connection, contact)

    # The mapping replaces the default (every custom field): only the plan goes.
    assert last_body(box)["custom_context"] == {"plan": "pro"}
    html = staff_client.get(reverse("admin:crm_contact_preview_payload", args=[contact.pk]))
    page = html.content.decode()
    assert "custom_context.plan=cf:plan" in page
    assert "&quot;custom_context&quot;: {\n    &quot;plan&quot;: &quot;pro&quot;\n  }" in page


def test_constants_and_our_fields_reach_getraze(sandbox_server, fields):
    mapping = entries(
        "custom_fields.origin=const:relay-crm",
        "custom_fields.town=field:city",
        "custom_fields.labels=field:tags",
        "custom_fields.seats=cf:seats",
    )
    connection, box = connect(sandbox_server, "getraze", mapping)

    push(connection, ann())

    assert last_body(box)["custom_fields"] == {
        "labels": ["brand-new-tag", "vip"],
        "origin": "relay-crm",
        "seats": 12,
        "town": "Oslo",
    }


def test_contactship_items_are_typed_by_their_source_and_replace_a_built_in_one(
    sandbox_server, fields
):
    mapping = entries(
        "additional_data.renewal_date=cf:renewal",
        "additional_data.company=const:Acme Holding",
        "additional_data.plan=cf:plan",
        "additional_data.ciudad de envío=field:city",  # any script, as Contactship's own example
    )
    connection, box = connect(sandbox_server, "contactship", mapping)

    push(connection, ann())

    items = {i["field"]: (i["type"], i["value"]) for i in last_body(box)["additional_data"]}
    assert items["renewal_date"] == ("date", "2027-01-31")
    assert items["company"] == ("text", "Acme Holding")  # the constant, not the built-in item
    assert items["plan"] == ("text", "pro")
    assert items["ciudad de envío"] == ("text", "Oslo")
    assert "seats" not in items  # not mapped: the default's custom fields are replaced
    assert items["tags"] == ("text", "brand-new-tag, vip")  # built-in items stay


def test_without_a_mapping_each_adapter_sends_every_custom_field_as_before(sandbox_server, fields):
    every = {"plan": "pro", "renewal": "2027-01-31", "seats": 12}
    for provider, place in (("getraze", "custom_fields"), ("klen", "custom_context")):
        connection, box = connect(sandbox_server, provider)
        push(connection, ann() if provider == "getraze" else Contact.objects.get())
        assert last_body(box)[place] == every


# --- values a provider can't take ----------------------------------------------------------


@pytest.fixture
def close(sandbox_server, fields):
    mapping = entries(
        "custom.cf_sandboxTags=field:tags",
        "custom.cf_sandboxIndustry=cf:industry",
        "custom.cf_sandboxDealSize=cf:seats",
    )
    connection, box = connect(sandbox_server, "close")
    connection_fields_fetch(connection=connection)  # Close's types and choices, kept
    connection, _ = connection_upsert(name=connection.name, provider="close", field_map=mapping)
    return connection, box


def test_a_close_push_with_a_tag_outside_the_choices_succeeds_without_it_and_warns(
    close, staff_client
):
    connection, box = close
    contact = ann(industry="Aerospace")

    link = push(connection, contact)

    body = last_body(box)
    assert body["custom.cf_sandboxTags"] == ["vip"]
    assert "custom.cf_sandboxIndustry" not in body  # left out, not cleared
    assert body["custom.cf_sandboxDealSize"] == 12
    assert link.state == RemoteLink.State.SYNCED
    assert link.warnings.splitlines() == [
        "tag 'brand-new-tag' is not a choice of Close field Tags.",
        "industry value 'Aerospace' is not a choice of Close field Industry.",
    ]
    # Shown next to the state: on the link's page, the contact's links and in the preview.
    page = staff_client.get(reverse("admin:integrations_remotelink_change", args=[link.pk]))
    assert "tag &#x27;brand-new-tag&#x27; is not a choice of Close field Tags." in page.text
    page = staff_client.get(reverse("admin:crm_contact_change", args=[contact.pk]))
    assert "Left out: tag &#x27;brand-new-tag&#x27;" in page.text
    page = staff_client.get(reverse("admin:crm_contact_preview_payload", args=[contact.pk]))
    assert "Left out: tag &#x27;brand-new-tag&#x27; is not a choice" in page.text

    # A later push that leaves nothing out clears the warning.
    contact = contact_upsert(contact=contact, tags=["vip"], custom_fields={"seats": 3})
    link = push(connection, contact)
    assert link.warnings == ""


def test_a_warning_is_kept_when_the_payload_is_unchanged(close):
    connection, box = close
    contact = ann()
    first = push(connection, contact)
    sent = len(box.requests())
    second = push(connection, contact)
    assert len(box.requests()) == sent  # nothing sent: the provider has this payload
    assert second.warnings == first.warnings != ""


def test_the_preview_says_when_closes_fields_were_never_fetched(sandbox_server, fields):
    connection, _ = connect(sandbox_server, "close", entries("custom.cf_sandboxTags=field:tags"))
    preview = payload_preview(contact=ann(), connection=connection)
    assert preview.unchecked and preview.warnings == []
    assert '"brand-new-tag"' in preview.requests[-1]["body"]  # sent as it is: Close decides
    connection_fields_fetch(connection=connection)
    preview = payload_preview(contact=Contact.objects.get(), connection=connection)
    assert not preview.unchecked
    assert preview.warnings == ["tag 'brand-new-tag' is not a choice of Close field Tags."]


# --- invalid mappings ----------------------------------------------------------------------


def test_the_service_refuses_an_invalid_mapping_naming_each_problem(sandbox_server, fields):
    with pytest.raises(MappingInvalid) as invalid:
        connect(
            sandbox_server,
            "klen",
            entries(
                "custom_fields.plan=cf:plan",  # GetRaze's prefix
                "custom_context.plan=cf:plann",
                "custom_context.x=field:nickname",
                "custom_context.y=const:",
                "custom_context.z=plan",
                "custom_context.z=cf:plan",
                "custom_context.=cf:plan",
            ),
        )
    assert [m for _, m in invalid.value.errors] == [
        "custom_fields.plan=cf:plan: Klen AI takes targets custom_context.<key>, like "
        "custom_context.plan.",
        "custom_context.plan=cf:plann: no custom field has the key 'plann'.",
        "custom_context.x=field:nickname: we have no contact field 'nickname' (one of email, "
        "first_name, last_name, full_name, company, title, phone, linkedin_url, website, "
        "address, city, state, zip_code, country, country_name, status, stage, source, "
        "description, tags).",
        "custom_context.y=const:: a constant needs a text after const:.",
        "custom_context.z=plan: a source is field:<name>, cf:<key> or const:<text>.",
        "custom_context.z=cf:plan: custom_context.z is mapped twice.",
        "custom_context.=cf:plan: the key after custom_context. is letters, digits, _ . - or "
        "spaces (100 at most).",
    ]
    assert not Connection.objects.exists()
    with pytest.raises(MappingInvalid, match="an entry is"):
        connect(sandbox_server, "klen", ["custom_context.plan=cf:plan"])
    with pytest.raises(MappingInvalid, match="Webhook connections take no field mapping"):
        connection_upsert(
            name="hook",
            provider="webhook",
            api_key="whsec_" + "A" * 32,
            base_url="https://example.com/hook",
            field_map=entries("data.x=cf:plan"),
        )


def test_close_targets_and_types_are_checked_against_its_fetched_fields(close):
    connection, _ = close
    with pytest.raises(MappingInvalid) as invalid:
        connection_upsert(
            name=connection.name,
            provider="close",
            field_map=entries(
                "custom.cf_nope=cf:plan",
                "custom.cf_sandboxDealSize=cf:plan",
                "custom.cf_sandboxLastMeeting=const:next week",
                "custom.cf_sandboxIndustry=field:tags",
                "custom.cf_sandboxTags=const:brand-new-tag",
                "industry=cf:plan",
            ),
        )
    messages = [m.split(": ", 1)[1] for _, m in invalid.value.errors]
    assert messages == [
        "Close has no contact field cf_nope (as last fetched).",
        "a text value can't convert to Close field Deal size, a number field.",
        "'next week' can't convert to Close field Last meeting, a date field: enter a date "
        "as YYYY-MM-DD.",
        "tags are several values; Close field Industry takes one.",
        "'brand-new-tag' is not a choice of Close field Tags.",
        "Close takes targets custom.<key>, like custom.cf_….",
    ]
    # What stood stays.
    assert Connection.objects.get(pk=connection.pk).field_map == connection.field_map


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_add_connection_maps_replaces_keeps_and_clears(db, fields):
    base = ["add_connection", "klen main", "--provider", "klen", "--api-key", "klen_key_1234"]
    output = run(*base, "--map", "custom_context.plan=cf:plan", "--map", "custom_context.v=const:2")
    assert "mapping custom_context.plan=cf:plan, custom_context.v=const:2" in output
    run(*base, "--map", "custom_context.seats=cf:seats")  # a second --map replaces
    assert Connection.objects.get().field_map == entries("custom_context.seats=cf:seats")
    run(*base, "--concurrency", "3")  # without --map it is kept
    assert Connection.objects.get().field_map == entries("custom_context.seats=cf:seats")
    assert "mapping (the default)" in run(*base, "--clear-map")
    assert Connection.objects.get().field_map == []


def test_add_connection_refuses_an_invalid_mapping_clearly(db, fields):
    base = ["add_connection", "gr", "--provider", "getraze", "--api-key", "lr_key_1234"]
    with pytest.raises(CommandError, match=r"custom_fields\.x=cf:nope: no custom field"):
        call_command(*base, "--map", "custom_fields.x=cf:nope")
    with pytest.raises(CommandError, match=r"'custom_fields\.x': a mapping entry is TARGET=SOURCE"):
        call_command(*base, "--map", "custom_fields.x")
    assert not Connection.objects.exists()


def test_add_connection_fetches_closes_fields_and_checks_the_mapping_against_them(
    sandbox_server, db
):
    box = provider_sandbox(sandbox_server, "close")
    base = ["add_connection", "close", "--provider", "close", "--base-url", box.base_url]
    base += ["--api-key", SANDBOX_KEY, "--fetch-fields"]
    output = run(*base, "--map", "custom.cf_sandboxTags=field:tags")
    assert "Fetched 4 contact fields of close." in output
    connection = Connection.objects.get()
    assert [f["name"] for f in connection.provider_fields][-1] == "Tags"
    assert connection.field_map == entries("custom.cf_sandboxTags=field:tags")
    with pytest.raises(CommandError, match="Close has no contact field cf_gone"):
        call_command(*base, "--map", "custom.cf_gone=field:tags")
    with pytest.raises(CommandError, match="--fetch-fields is for Close connections"):
        call_command("add_connection", "k", "--provider", "klen", "--fetch-fields")


def test_the_former_custom_field_map_option_becomes_the_mapping(db, fields):
    connection, _ = connection_upsert(
        name="close",
        provider="close",
        api_key="api_key_1234",
        options={
            "lead_strategy": "by_company",
            "custom_field_map": {"plan": "cf_a", "tags": "cf_b"},
        },
    )
    assert connection.options == {"lead_strategy": "by_company"}
    assert connection.field_map == entries("custom.cf_a=cf:plan", "custom.cf_b=field:tags")


# --- the admin -----------------------------------------------------------------------------


def mapping_rows(*rows: tuple[str, str, str]) -> dict:
    data = {"field_map-present": "1"}
    for index, (target, source, const) in enumerate(rows):
        data |= {
            f"field_map-{index}-target": target,
            f"field_map-{index}-source": source,
            f"field_map-{index}-const": const,
        }
    return data


def form_data(connection, **rows) -> dict:
    return {
        "name": connection.name,
        "provider": connection.provider,
        "base_url": connection.base_url,
        "api_key": "",
        "enabled": "on",
        "options": "{}",
        "option_team_id": "1",
        "concurrency": "2",
        "rate_limit": "0",
        **rows,
    }


def test_the_admin_edits_a_mapping_in_rows_and_refuses_bad_ones(
    sandbox_server, fields, staff_client
):
    connection, _ = connect(sandbox_server, "klen")
    url = reverse("admin:integrations_connection_change", args=[connection.pk])
    page = staff_client.get(url).content.decode()
    assert 'placeholder="custom_context.plan"' in page
    assert '<option value="cf:plan">Plan (plan)</option>' in page

    rows = mapping_rows(
        ("custom_context.plan", "cf:plan", ""),
        ("", "", ""),  # an empty row is no entry
        ("custom_context.team", "const", "Sales"),
    )
    response = staff_client.post(url, form_data(connection, **rows))
    assert response.status_code == 302, response.context["adminform"].form.errors
    connection.refresh_from_db()
    assert connection.field_map == entries(
        "custom_context.plan=cf:plan", "custom_context.team=const:Sales"
    )
    page = staff_client.get(url).content.decode()
    assert 'value="custom_context.team"' in page and 'value="Sales"' in page

    bad = mapping_rows(("custom.cf_x", "cf:plan", ""), ("custom_context.q", "const", ""))
    response = staff_client.post(url, form_data(connection, **bad))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["field_map"] == [
        "Row 1: custom.cf_x=cf:plan: Klen AI takes targets custom_context.<key>, like "
        "custom_context.plan.",
        "Row 2: custom_context.q=const:: a constant needs a text after const:.",
    ]
    # A post without the rows (a client's own form) keeps the mapping.
    response = staff_client.post(url, form_data(connection))
    assert response.status_code == 302
    connection.refresh_from_db()
    assert len(connection.field_map) == 2


def test_at_close_the_admin_offers_the_fetched_fields_as_targets(close, staff_client):
    connection, _ = close
    url = reverse("admin:integrations_connection_change", args=[connection.pk])
    page = staff_client.get(url).content.decode()
    assert '<option value="custom.cf_sandboxTags" selected>Tags (choices, several values)' in page
    assert "4 fields, fetched" in page

    rows = mapping_rows(("custom.cf_sandboxDealSize", "cf:plan", ""))
    response = staff_client.post(url, form_data(connection, **rows))
    assert response.context["adminform"].form.errors["field_map"] == [
        "Row 1: custom.cf_sandboxDealSize=cf:plan: a text value can't convert to Close field "
        "Deal size, a number field."
    ]
    rows = mapping_rows(("custom.cf_sandboxDealSize", "cf:seats", ""))
    assert staff_client.post(url, form_data(connection, **rows)).status_code == 302
    connection.refresh_from_db()
    assert connection.field_map == entries("custom.cf_sandboxDealSize=cf:seats")


# --- the migration -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_migration_moves_custom_field_map_into_the_mapping():
    executor = MigrationExecutor(db_connection)
    before, after = (
        [("integrations", "0011_connection_pace")],
        [("integrations", "0012_connection_field_map")],
    )
    executor.migrate(before)
    old = executor.loader.project_state(before).apps.get_model("integrations", "Connection")
    options = {"lead_strategy": "fixed", "custom_field_map": {"industry": "cf_i", "tags": "cf_t"}}
    old.objects.create(name="close", provider="close", options=options, base_url="https://x.io")
    old.objects.create(
        name="klen", provider="klen", options={"team_id": 1}, base_url="https://y.io"
    )

    executor = MigrationExecutor(db_connection)
    executor.migrate(after)

    new = executor.loader.project_state(after).apps.get_model("integrations", "Connection")
    close = new.objects.get(name="close")
    assert close.options == {"lead_strategy": "fixed"}
    assert close.field_map == entries("custom.cf_i=cf:industry", "custom.cf_t=field:tags")
    assert new.objects.get(name="klen").field_map == []
    executor = MigrationExecutor(db_connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
