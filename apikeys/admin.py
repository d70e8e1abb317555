from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from .models import Scope, ScopedAPIKey
from .services import api_key_revoke

# The library registers its own unscoped APIKey model; this project uses ScopedAPIKey only.
if admin.site.is_registered(APIKey):
    admin.site.unregister(APIKey)


class ScopedAPIKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="What the key may do. A key without scopes can do nothing.",
    )

    class Meta:
        model = ScopedAPIKey
        fields = ["name", "scopes", "expiry_date", "revoked"]


@admin.register(ScopedAPIKey)
class ScopedAPIKeyAdmin(APIKeyModelAdmin):
    """Keys are shown once, in a message, when created (the library's save_model)."""

    form = ScopedAPIKeyForm
    list_display = (
        "prefix",
        "name",
        "scopes_display",
        "created",
        "expiry_date",
        "_has_expired",
        "revoked",
    )
    list_filter = ("revoked", "created", "expiry_date")
    search_fields = ("name", "prefix")
    actions = ["revoke_selected"]

    def get_readonly_fields(self, request, obj=None):
        fields = (*super().get_readonly_fields(request, obj), "created")
        if obj is not None and obj.revoked:
            fields += ("scopes",)
        return fields

    def get_fields(self, request, obj=None):
        return ["name", "scopes", "expiry_date", "revoked", "prefix", "created"]

    @admin.display(description="scopes")
    def scopes_display(self, obj: ScopedAPIKey) -> str:
        return ", ".join(obj.scopes) or "—"

    @admin.action(description="Revoke selected API keys")
    def revoke_selected(self, request, queryset: QuerySet[ScopedAPIKey]) -> None:
        count = 0
        for api_key in queryset.filter(revoked=False):
            api_key_revoke(api_key=api_key)
            count += 1
        self.message_user(request, f"Revoked {count} API key(s).", messages.SUCCESS)
