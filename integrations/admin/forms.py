"""The admin's forms: a connection's settings and the "Push to provider…" choice."""

from django import forms

from ..audience import AudienceInvalid, audience_validate
from ..connections import connection_mapping_validate, option_value_parse, option_value_text
from ..crypto import SecretUnreadable
from ..mapping import MappingInvalid
from ..models import Connection
from ..providers import adapter_class, default_base_url, provider_choices
from .mapping_field import MappingField, close_target_choices

OPTION_PREFIX = "option_"

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
    field_map = MappingField(
        label="Field mapping",
        required=False,
        help_text=(
            "Which of our values go to which provider field. With no entry, the provider gets "
            "its default (every custom field under its key; nothing at Close); entries replace "
            "that custom-field part. Empty rows are ignored; save for more rows."
        ),
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
            "field_map",
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
        self.option_keys = self.provider_option_fields()
        self.mapping_targets()

    def mapping_targets(self) -> None:
        """The target's hint: the provider's prefix, or at Close its fetched fields."""
        provider = (self.data.get("provider") if self.is_bound else None) or self.instance.provider
        if provider not in dict(provider_choices()) or "field_map" not in self.fields:
            return
        rules = adapter_class(provider).mapping_rules
        widget = self.fields["field_map"].widget
        if rules is not None:
            widget.placeholder = rules.prefix + rules.key_example
        if rules is not None and rules.values == "close" and self.instance.provider_fields:
            widget.target_choices = close_target_choices(self.instance.provider_fields)

    @classmethod
    def option_field_names(cls, provider: str) -> list[str]:
        if provider not in dict(provider_choices()):
            return []
        return [OPTION_PREFIX + option.key for option in adapter_class(provider).option_fields]

    def provider_option_fields(self) -> list[str]:
        """One field for each option the provider's adapter reads; `options` keeps the rest
        (any other key, as JSON)."""
        provider = self.data.get("provider") if self.is_bound else None
        provider = provider or self.instance.provider
        if provider not in dict(provider_choices()) or "options" not in self.fields:
            return []
        stored = dict(self.instance.options or {})
        keys = []
        for option in adapter_class(provider).option_fields:
            name = OPTION_PREFIX + option.key
            value = stored.pop(option.key, None)
            self.fields[name] = forms.CharField(
                label=option.key, required=False, help_text=option.help
            )
            self.initial.setdefault(name, "" if value is None else option_value_text(value))
            keys.append(option.key)
        self.initial["options"] = stored
        self.fields["options"].label = "Other options (JSON)"
        self.fields["options"].required = False
        return keys

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
        self.check_settings(cleaned)
        return cleaned

    def check_settings(self, cleaned: dict) -> None:
        """The provider's rules for its URL and key (a webhook's HTTPS URL and whsec_ secret)."""
        provider = cleaned.get("provider") or self.instance.provider
        if provider not in dict(provider_choices()) or self.errors:
            return
        key = cleaned.get("api_key") or self.stored_key()
        base_url = cleaned.get("base_url") or default_base_url(provider)
        problem = adapter_class(provider).settings_problem(base_url=base_url, api_key=key)
        if problem:
            raise forms.ValidationError(problem, code="invalid")

    def stored_key(self) -> str:
        try:
            return self.instance.api_key if self.instance.api_key_encrypted else ""
        except SecretUnreadable:
            return ""  # to be entered again: the provider's rules then say what it must be

    def clean_audience(self):
        try:
            return audience_validate(self.cleaned_data.get("audience") or "")
        except AudienceInvalid as invalid:
            raise forms.ValidationError(invalid.errors, code="invalid") from None

    def clean_field_map(self):
        entries = self.cleaned_data.get("field_map") or []
        provider = self.cleaned_data.get("provider") or self.instance.provider
        if provider not in dict(provider_choices()):
            return entries
        fields = self.instance.provider_fields if provider == self.instance.provider else None
        try:
            return connection_mapping_validate(
                provider=provider, entries=entries, provider_fields=fields
            )
        except MappingInvalid as invalid:
            raise forms.ValidationError(
                [f"Row {i + 1}: {m}" if i is not None else m for i, m in invalid.errors],
                code="invalid",
            ) from None

    def clean_options(self):
        options = self.cleaned_data.get("options") or {}
        if not isinstance(options, dict):
            raise forms.ValidationError("Options must be a JSON object.", code="invalid")
        for key in self.option_keys:
            name = self.add_prefix(OPTION_PREFIX + key)
            if name not in self.data:
                continue  # a page without the field (the add page): the JSON may hold it
            raw = self.data[name].strip()
            options.pop(key, None)
            if raw:
                options[key] = option_value_parse(raw)
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
