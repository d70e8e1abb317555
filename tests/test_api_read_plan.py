"""The list's read plan is derived from ContactSerializer's fields (api.contacts.read_plan)."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from rest_framework import serializers

from api.contacts.read_plan import contact_read_plan, read_plan
from api.contacts.serializers import ContactSerializer


def test_the_plan_has_every_field_of_the_serializer_in_its_order():
    plan = contact_read_plan()

    assert plan.keys == tuple(ContactSerializer().fields)
    assert [key for key, _ in plan.related] == ["phone_numbers", "tags", "remote_links"]
    assert plan.related[0][1].keys == ("id", "number", "type", "is_primary", "do_not_call")


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
