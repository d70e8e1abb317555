from django.urls import path
from rest_framework.routers import SimpleRouter

from .contacts.views import ContactViewSet
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
    ]
)
