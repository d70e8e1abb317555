from django.urls import path
from rest_framework.routers import SimpleRouter

from .contacts.batch import ContactBatchView
from .contacts.views import ContactViewSet
from .custom_fields.views import CustomFieldListView
from .push.views import ContactPushView
from .routes import slash_optional

# SimpleRouter: DefaultRouter's API root view would need scopes of its own.
router = SimpleRouter()
router.register("contacts", ContactViewSet, basename="contact")

# Every route is written with its trailing slash, and matches without it (api/routes.py).
urlpatterns = slash_optional(
    [
        path("contacts/<int:pk>/push/", ContactPushView.as_view(), name="contact-push"),
        *router.urls,
        path("contacts/batch/", ContactBatchView.as_view(), name="contact-batch"),
        path("custom-fields/", CustomFieldListView.as_view(), name="custom-field-list"),
    ]
)
