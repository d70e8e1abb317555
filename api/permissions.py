"""Checks every API view makes before its scopes (apikeys.permissions.HasScope)."""

from rest_framework.exceptions import MethodNotAllowed
from rest_framework.permissions import BasePermission


class MethodAllowed(BasePermission):
    """405 `method_not_allowed` (with `Allow`) for a method the route does not have.

    DRF looks for the method's handler only after the permission checks, so `DELETE` on the
    list was refused 403 to a key without the write scope and 405 to one with it: the answer
    must describe the route, whoever asks. Listed first in DEFAULT_PERMISSION_CLASSES.
    """

    def has_permission(self, request, view) -> bool:
        method = request.method.lower()
        if method not in view.http_method_names or not hasattr(view, method):
            # Counted against the key's rate like any answer it is served (docs/api.md).
            view.check_throttles(request)
            raise MethodNotAllowed(request.method)
        return True
