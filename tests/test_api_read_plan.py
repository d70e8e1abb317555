"""The list's read plan is derived from ContactSerializer's fields (api.contacts.read_plan)."""

import datetime
import json
import random

import pytest
from django.core.exceptions import ImproperlyConfigured
from rest_framework import serializers

from api.contacts.read_plan import contact_read_plan, read_plan
from api.contacts.representation import contact_list_representation, contact_list_rows
from api.contacts.serializers import ContactSerializer
from api.renderers import FastJSONRenderer
from crm.models import Contact
from integrations.models import Connection, RemoteLink
from tests.factories import ContactFactory, PhoneNumberFactory, TagFactory


def test_the_plan_has_every_field_of_the_serializer_in_its_order():
    plan = contact_read_plan()

    assert plan.keys == tuple(ContactSerializer().fields)
    assert [key for key, _ in plan.related] == ["phone_numbers", "tags", "remote_links"]
    assert plan.related[0][1].keys == ("id", "number", "type", "is_primary", "do_not_call")
    links = plan.related[2][1]
    assert links.keys == (
        "connection",
        "provider",
        "remote_id",
        "state",
        "last_error",
        "last_pushed_at",
    )
    assert links.lookups["provider"] == "connection__provider"


def test_a_column_field_is_read_by_its_kind_without_another_edit():
    class Narrow(ContactSerializer):
        class Meta(ContactSerializer.Meta):
            fields = ["id", "company", "owner", "updated_at", "full_name", "custom_fields"]

    plan = read_plan(Narrow())

    assert plan.plain == (("id", "id"), ("company", "company"), ("owner", "owner_id"))
    assert plan.datetimes == (("updated_at", "updated_at"),)
    assert plan.json_columns == (("custom_fields", "custom_fields"),)
    assert [key for key, _ in plan.properties] == ["full_name"]
    assert plan.columns == ("id", "company", "owner_id", "updated_at", "custom_fields")
    assert plan.related == ()


def test_a_field_the_list_has_no_reader_for_is_refused():
    class WithMethod(ContactSerializer):
        initials = serializers.SerializerMethodField()

        class Meta(ContactSerializer.Meta):
            fields = [*ContactSerializer.Meta.fields, "initials"]

        def get_initials(self, contact) -> str:
            return contact.first_name[:1]

    with pytest.raises(ImproperlyConfigured, match="initials"):
        read_plan(WithMethod())


@pytest.mark.django_db
def test_the_fast_path_renders_many_varied_contacts_exactly_as_the_serializer(
    django_user_model,
):
    """The one seam between the serializer and the list's rows, checked directly."""
    rng = random.Random(14)
    owner = django_user_model.objects.create_user("owner", is_staff=True)
    connections = [
        Connection.objects.create(name=name, provider=provider, auto_push=False)
        for name, provider in [("Close", "close"), ("a klen", "klen"), ("Zeta", "getraze")]
    ]
    tags = [TagFactory(name=name) for name in ["VIP", "alpha", "Zulu", "beta", "Ünïcode"]]
    for number in range(40):
        contact = ContactFactory(
            last_name=rng.choice(["", "Lovelace", "Hopper"]),
            country=rng.choice(["", "US", "BR"]),
            owner=rng.choice([None, owner]),
            custom_fields=rng.choice([{}, {"industry": "x" * number}, {"deal_size": 10**14}]),
            tags=rng.sample(tags, rng.randrange(len(tags) + 1)),
        )
        for index in range(rng.randrange(4)):
            PhoneNumberFactory(contact=contact, is_primary=index == 1)
        for connection in rng.sample(connections, rng.randrange(len(connections) + 1)):
            RemoteLink.objects.create(
                contact=contact,
                connection=connection,
                remote_id=rng.choice(["", f"lead_{number}"]),
                state=rng.choice(RemoteLink.State.values),
                last_error_code=rng.choice(["", "INVALID_EMAIL"]),
                last_error_message=rng.choice(["", "Refused."]),
                last_pushed_at=rng.choice(
                    [None, datetime.datetime(2026, 3, 4, 5, 6, number, 890, tzinfo=datetime.UTC)]
                ),
            )
    renderer = FastJSONRenderer()
    queryset = Contact.objects.order_by("id")

    rows = contact_list_representation(list(contact_list_rows(queryset)))
    instances = queryset.prefetch_related(*contact_read_plan().prefetches())
    serialized = ContactSerializer(instances, many=True).data

    assert len(rows) == 40
    # Read back, then written alike: on PostgreSQL custom_fields is the stored jsonb text,
    # spaced as PostgreSQL writes it. Same keys in the same order, same values and types.
    fast, simple = (json.loads(renderer.render(data)) for data in (rows, serialized))
    assert json.dumps(fast) == json.dumps(simple)
