"""The admin's forms: a connection's settings and the "Push to provider…" choice."""

from django import forms

from ..audience import AudienceInvalid, audience_validate
from ..models import Connection

# Sync rules a form may leave out: the connection's current rule (a new one's default) stays.
RULE_FIELDS = ("mode", "on_delete", "on_leave")


class ConnectionForm(forms.ModelForm):
    # Write-only: never rendered back into the page (render_value=False), so the stored key
    # can't be read from the HTML; empty on a change keeps the stored key.
    api_key = forms.CharField(
        label="API key",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )

    class Meta:
        model = Connection
        fields = [
            "name",
            "provider",
            "base_url",
            "api_key",
            "enabled",
            "auto_push",
            "options",
            "concurrency",
            "rate_limit",
            "audience",
            "on_leave",
            "mode",
            "on_delete",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in RULE_FIELDS:
            if name in self.fields:
                self.fields[name].required = False
        if self.instance.pk and self.instance.api_key_encrypted:
            self.fields[
                "api_key"
            ].help_text = f"Stored: {self.instance.api_key_masked}. Leave empty to keep it."

    def clean_api_key(self):
        key = self.cleaned_data.get("api_key", "")
        if not key and not self.instance.api_key_encrypted:
            raise forms.ValidationError("Enter the provider's API key.", code="required")
        return key

    def clean(self):
        cleaned = super().clean()
        for name in RULE_FIELDS:
            if name in self.fields and not cleaned.get(name):
                cleaned[name] = getattr(self.instance, name)
        return cleaned

    def clean_audience(self):
        try:
            return audience_validate(self.cleaned_data.get("audience") or "")
        except AudienceInvalid as invalid:
            raise forms.ValidationError(invalid.errors, code="invalid") from None

    def clean_options(self):
        options = self.cleaned_data.get("options") or {}
        if not isinstance(options, dict):
            raise forms.ValidationError("Options must be a JSON object.", code="invalid")
        return options

    def save(self, commit=True):
        if self.cleaned_data.get("api_key"):
            self.instance.api_key = self.cleaned_data["api_key"]
        return super().save(commit)


class PushForm(forms.Form):
    connections = forms.ModelMultipleChoiceField(
        queryset=Connection.objects.filter(enabled=True),
        widget=forms.CheckboxSelectMultiple,
        help_text="Disabled connections are not listed.",
    )
