"""GET /api/v1/custom-fields/: the custom fields defined in the admin. Thin.

Not paginated: the fields are a short list staff define, and a form needs all of them. The
answer is still an object (`results`), so a page could be added without breaking clients.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.response import Response

from apikeys.models import Scope
from crm.models import CustomField

from ..query_params import StrictQueryParametersMixin, strict_query_string
from ..renderers import FastJSONRenderer
from .serializers import CustomFieldListSerializer, CustomFieldSerializer


# Outermost, so it sees (and keeps) the codes the decorators below declare.
@strict_query_string
@extend_schema(
    tags=["custom fields"],
    summary="List the custom fields",
    description=(
        "Every custom field a contact's `custom_fields` may hold, in the order the admin shows "
        "them: its key, label, type, allowed choices, whether it is required, and its help "
        "text. Clients use it to build forms and to check values before sending them."
    ),
    responses={200: CustomFieldListSerializer},
)
class CustomFieldListView(StrictQueryParametersMixin, generics.GenericAPIView):
    queryset = CustomField.objects.all()
    serializer_class = CustomFieldSerializer
    pagination_class = None
    renderer_classes = [FastJSONRenderer]
    # A write method is answered 405; its scope is the same so that the 405 is reached.
    required_scopes = {"read": Scope.CONTACTS_READ, "write": Scope.CONTACTS_READ}
    http_method_names = ["get", "head", "options"]

    def get(self, request, *args, **kwargs):
        fields = self.get_serializer(self.get_queryset(), many=True)
        return Response({"results": fields.data})
