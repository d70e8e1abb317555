"""POST /api/v1/contacts/{id}/push/: queue a contact's push to some connections. Thin."""

from django.db import transaction
from drf_spectacular.utils import extend_schema
from drf_standardized_errors.openapi_validation_errors import extend_validation_errors
from rest_framework import generics, status
from rest_framework.response import Response

from apikeys.models import Scope
from crm.models import Contact
from integrations.links import links_mark_pending
from integrations.models import Connection, RemoteLink

from ..query_params import StrictQueryParametersMixin, strict_query_string
from .serializers import PushRequestSerializer, PushResultSerializer


# Outermost, so it sees (and keeps) the codes the decorators below declare.
@strict_query_string
@extend_schema(
    tags=["contacts"],
    summary="Push a contact to providers",
    description=(
        "Queues the contact's push to the named connections (all enabled ones when "
        "`connections` is left out) and answers at once, 202, with its links as they are now. "
        "The worker sends it; a provider that already has this version is sent nothing. "
        "Follow `remote_links` on the contact for the outcome."
    ),
    request=PushRequestSerializer,
    responses={202: PushResultSerializer},
)
@extend_validation_errors(
    ["unknown_connection", "connection_disabled"], field_name="connections", methods=["post"]
)
# An unknown body key (api.contacts.serializers.RejectUnknownFieldsMixin), named in `attr`.
@extend_validation_errors(["unknown_field"], field_name="KEY", methods=["post"])
class ContactPushView(StrictQueryParametersMixin, generics.GenericAPIView):
    queryset = Contact.objects.all()
    serializer_class = PushRequestSerializer
    required_scopes = {"read": Scope.PUSH, "write": Scope.PUSH}
    http_method_names = ["post", "options"]

    def post(self, request, *args, **kwargs):
        contact = self.get_object()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        connections = serializer.validated_data.get("connections")
        if connections is None:
            connections = list(Connection.objects.filter(enabled=True))
        with transaction.atomic():
            queued = links_mark_pending(contacts=[contact.pk], connections=connections)
        links = RemoteLink.objects.filter(
            contact=contact, connection__in=connections
        ).select_related("connection")
        result = PushResultSerializer({"queued": queued, "remote_links": links})
        return Response(result.data, status=status.HTTP_202_ACCEPTED)
