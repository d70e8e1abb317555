from django.urls import path

from .views import ContactPushView

urlpatterns = [
    path("contacts/<int:pk>/push/", ContactPushView.as_view(), name="contact-push"),
]
