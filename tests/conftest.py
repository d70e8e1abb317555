import pytest

from tests.factories import ContactFactory, CustomFieldFactory, PhoneNumberFactory, TagFactory


@pytest.fixture
def contact_factory(db):
    return ContactFactory


@pytest.fixture
def phone_factory(db):
    return PhoneNumberFactory


@pytest.fixture
def tag_factory(db):
    return TagFactory


@pytest.fixture
def custom_field_factory(db):
    return CustomFieldFactory


@pytest.fixture
def staff_client(client, django_user_model):
    """A logged-in superuser's client for admin pages."""
    user = django_user_model.objects.create_superuser("staff", "staff@example.com", "pw")
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture(autouse=True)
def _empty_cache():
    """Cached values (admin filter choices, API throttle counts, backlog spreads) never leak
    between tests."""
    from django.core.cache import cache

    from integrations import throttle

    cache.clear()
    throttle._spreads.clear()
    yield
    cache.clear()
