"""factory-boy factories for the contact domain (tests only: factory-boy and Faker are dev
packages; `seed_demo` draws its data from crm.demo_data)."""

import random

import factory
from factory.django import DjangoModelFactory

from crm.demo_data import fictional_us_number
from crm.models import Contact, CustomField, PhoneNumber, Tag


class TagFactory(DjangoModelFactory):
    class Meta:
        model = Tag
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"tag-{n}")


class CustomFieldFactory(DjangoModelFactory):
    class Meta:
        model = CustomField
        django_get_or_create = ("key",)

    key = factory.Sequence(lambda n: f"field_{n}")
    label = factory.LazyAttribute(lambda o: o.key.replace("_", " ").capitalize())
    type = CustomField.Type.TEXT


class ContactFactory(DjangoModelFactory):
    class Meta:
        model = Contact
        skip_postgeneration_save = True

    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttributeSequence(
        lambda o, n: f"{o.first_name}.{o.last_name}.{n}@example.com".lower()
    )
    company = factory.Faker("company")
    title = factory.Faker("job")
    city = factory.Faker("city")
    country = "US"

    @factory.post_generation
    def tags(self, create, extracted, **kwargs):
        if create and extracted:
            self.tags.set(extracted)


class PhoneNumberFactory(DjangoModelFactory):
    class Meta:
        model = PhoneNumber

    contact = factory.SubFactory(ContactFactory)
    number = factory.Sequence(fictional_us_number)
    type = factory.LazyFunction(lambda: random.choice(PhoneNumber.Type.values))
