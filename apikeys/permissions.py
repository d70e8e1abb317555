"""The one place where scopes are checked.

A view declares what each action needs:

    required_scopes = {"read": Scope.CONTACTS_READ, "write": Scope.CONTACTS_WRITE}

"read" covers the safe methods (GET, HEAD, OPTIONS) and "write" the others; a key named
after a viewset action (e.g. "push") overrides both for that action. A view that declares
nothing is refused to everyone, so a forgotten declaration fails closed.
"""

from django.core.exceptions import ImproperlyConfigured
from rest_framework.permissions import SAFE_METHODS, BasePermission

from .models import ScopedAPIKey


def required_scope(*, view, method: str) -> str:
    scopes = getattr(view, "required_scopes", None)
    if not scopes:
        raise ImproperlyConfigured(f"{type(view).__name__} must declare required_scopes.")
    action = getattr(view, "action", None)
    if action in scopes:
        return scopes[action]
    kind = "read" if method in SAFE_METHODS else "write"
    try:
        return scopes[kind]
    except KeyError:
        raise ImproperlyConfigured(
            f"{type(view).__name__}.required_scopes names no scope for {action or kind}."
        ) from None


class HasScope(BasePermission):
    """API keys need the action's scope; staff sessions (the browsable API) need the Django
    model permissions that scope stands for."""

    code = "permission_denied"
    message = "You do not have permission to perform this action."

    def has_permission(self, request, view) -> bool:
        scope = required_scope(view=view, method=request.method)
        if isinstance(request.auth, ScopedAPIKey) and not request.auth.has_scope(scope):
            self.message = f"This API key lacks the {scope} scope."
        return request_has_scope(request=request, scope=scope, method=request.method)


def request_has_scope(*, request, scope: str, method: str) -> bool:
    """Whether the request's key has `scope`, or its staff session the model permissions the
    scope stands for with `method`. Views also ask it to decide what an answer may show (a
    write answer shows the contact only to a caller who may read it)."""
    if isinstance(request.auth, ScopedAPIKey):
        return request.auth.has_scope(scope)
    user = request.user
    if not (user and user.is_authenticated and user.is_active and user.is_staff):
        return False
    # A session is a person: the model permissions the admin asks of them apply here too,
    # so the browsable API is no way around them. Superusers have every permission.
    wanted = SESSION_PERMISSIONS.get(scope, {})
    perms = wanted.get(method) or wanted.get("*")
    if perms is None:
        return user.is_superuser
    return any(user.has_perm(perm) for perm in perms)


# What a staff session needs for each scope (any one of the listed permissions), by method.
SESSION_PERMISSIONS = {
    "contacts:read": {"*": ("crm.view_contact", "crm.change_contact")},
    "contacts:write": {
        "POST": ("crm.add_contact",),
        "DELETE": ("crm.delete_contact",),
        "*": ("crm.change_contact",),
    },
    "push": {"*": ("crm.change_contact",)},
}
