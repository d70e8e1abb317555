from rest_framework.routers import SimpleRouter

from .views import ContactViewSet

# SimpleRouter: DefaultRouter's API root view would need scopes of its own.
router = SimpleRouter()
router.register("contacts", ContactViewSet, basename="contact")

urlpatterns = router.urls
