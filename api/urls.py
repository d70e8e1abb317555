from django.urls import path
from rest_framework.routers import SimpleRouter

from .contacts.views import ContactViewSet
from .push.views import ContactPushView

# SimpleRouter: DefaultRouter's API root view would need scopes of its own.
router = SimpleRouter()
router.register("contacts", ContactViewSet, basename="contact")

urlpatterns = [
    path("contacts/<int:pk>/push/", ContactPushView.as_view(), name="contact-push"),
    *router.urls,
]
