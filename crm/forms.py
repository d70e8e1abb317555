"""Admin forms: custom fields as real form fields, phones parsed by the write service's rules."""

import phonenumbers
from django import forms
from django.contrib.admin.widgets import AdminDateWidget
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.urls import reverse
from django.utils.html import format_html

from .models import Contact, CustomField, PhoneNumber
from .selectors import contact_find_duplicate
from .validation import CONTACT_FIELDS, custom_fields_clean, phone_parse

CUSTOM_FIELD_PREFIX = "cf_"


def custom_field_formfield(definition: CustomField) -> forms.Field:
    """The form field that edits one custom field's value."""
    options = {
        "label": definition.label,
        "required": definition.required,
        "help_text": definition.help_text,
    }
    match definition.type:
        case CustomField.Type.NUMBER:
            return forms.DecimalField(**options)
        case CustomField.Type.DATE:
            # The API's and the import's one date form; Django's defaults would also read
            # 01/02/2026, which is a different day for half the world.
            return forms.DateField(widget=AdminDateWidget, input_formats=["%Y-%m-%d"], **options)
        case CustomField.Type.BOOLEAN:
            # Yes / No / Unknown: a checkbox cannot tell "no" from "not answered".
            return forms.NullBooleanField(**options)
        case CustomField.Type.CHOICE:
            choices = [("", "---------"), *((c, c) for c in definition.choices)]
            return forms.ChoiceField(choices=choices, **options)
        case CustomField.Type.URL:
            return forms.URLField(assume_scheme="https", **options)
        case CustomField.Type.EMAIL:
            return forms.EmailField(**options)
        case _:
            return forms.CharField(max_length=CustomField.TEXT_MAX_LENGTH, **options)


def stored_value(field: forms.Field, value):
    """A stored custom value as its form field's Python value (a date, a Decimal), so that a
    page sent back untouched has not changed; a value the field cannot read is shown as is."""
    if value is None:
        return None
    try:
        return field.to_python(value if isinstance(value, bool) else str(value))
    except ValidationError:
        return value


class ContactAdminForm(forms.ModelForm):
    """The contact form, with one form field per CustomField definition."""

    class Meta:
        model = Contact
        fields = [*CONTACT_FIELDS, "tags"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.custom_field_definitions = {field.key: field for field in CustomField.objects.all()}
        stored = self.instance.custom_fields or {}
        for key, definition in self.custom_field_definitions.items():
            name = CUSTOM_FIELD_PREFIX + key
            self.fields[name] = field = custom_field_formfield(definition)
            self.initial.setdefault(name, stored_value(field, stored.get(key)))

    @classmethod
    def custom_field_names(cls) -> list[str]:
        return [
            CUSTOM_FIELD_PREFIX + key for key in CustomField.objects.values_list("key", flat=True)
        ]

    def clean_email(self):
        email = self.cleaned_data.get("email", "")
        duplicate = contact_find_duplicate(email=email, exclude_pk=self.instance.pk)
        if duplicate is not None:
            url = reverse("admin:crm_contact_change", args=[duplicate.pk])
            raise ValidationError(
                format_html(
                    'A contact with this email already exists: <a href="{}">{}</a>.',
                    url,
                    duplicate,
                ),
                code="already_exists",
            )
        return email

    def clean(self):
        cleaned = super().clean()
        values = {
            key: cleaned.get(CUSTOM_FIELD_PREFIX + key)
            for key in self.custom_field_definitions
            if CUSTOM_FIELD_PREFIX + key not in self.errors
        }
        try:
            values = custom_fields_clean(values, definitions=self.custom_field_definitions)
        except ValidationError as exc:
            for error in exc.error_dict["custom_fields"]:
                self.add_error(CUSTOM_FIELD_PREFIX + error.params["key"], error)
            return cleaned
        # Keep values of fields whose definition was deleted: staff may restore it.
        orphans = {
            key: value
            for key, value in (self.instance.custom_fields or {}).items()
            if key not in self.custom_field_definitions
        }
        self.instance.custom_fields = {**orphans, **values}
        return cleaned


class PhoneNumberInput(forms.TextInput):
    """Shows stored E.164 numbers in the readable international format."""

    def format_value(self, value):
        number = getattr(value, "as_international", None)
        return number if number else super().format_value(value)


class PhoneNumberFormField(forms.CharField):
    """Accepts any format staff type; cleans to E.164 with the write service's parser."""

    widget = PhoneNumberInput

    def to_python(self, value):
        value = super().to_python(value)
        return phone_parse(value) if value else value

    def has_changed(self, initial, data):
        initial = getattr(initial, "as_e164", initial) or ""
        try:
            return initial != (self.to_python(data) or "")
        except ValidationError:
            return True


class PhoneNumberForm(forms.ModelForm):
    number = PhoneNumberFormField(
        help_text="Any format; national numbers are read in the default region."
    )

    class Meta:
        model = PhoneNumber
        fields = ["number", "type", "is_primary", "do_not_call"]

    def validate_constraints(self):
        # The one-primary rule is checked across the whole formset (a flag may move from one
        # row to another in a single save); the database state seen row by row is stale.
        exclude = self.fields_not_validated() | {"is_primary"}
        try:
            self.instance.validate_constraints(exclude=exclude)
        except ValidationError as exc:
            self.add_error(None, exc)

    def fields_not_validated(self) -> set[str]:
        """The model fields the form leaves out of model validation, as ModelForm does: those
        it does not edit, those that failed the form's own checks, and required ones left
        empty in a field the form does not require."""
        exclude = set()
        for field in self.instance._meta.fields:
            form_field = self.fields.get(field.name)
            if (
                form_field is None
                or self.has_error(field.name)
                or (
                    not field.blank
                    and not form_field.required
                    and self.cleaned_data.get(field.name) in form_field.empty_values
                )
            ):
                exclude.add(field.name)
        return exclude


class PhoneNumberInlineFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        kept = [
            form.cleaned_data
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]
        if sum(bool(data.get("is_primary")) for data in kept) > 1:
            raise ValidationError("Only one phone number can be primary.", code="multiple_primary")

    def save(self, commit=True):
        # The one-primary constraint is checked row by row: demote the old primary first,
        # whatever order the rows are saved in.
        demoted = [
            form.instance.pk
            for form in self.initial_forms
            if form.instance.pk
            and form.initial.get("is_primary")
            and (not form.cleaned_data.get("is_primary") or form.cleaned_data.get("DELETE"))
        ]
        if commit and demoted:
            PhoneNumber.objects.filter(pk__in=demoted).update(is_primary=False)
        return super().save(commit)


def format_phone(number) -> str:
    # Takes a parsed number (PhoneNumberField's value) as it is, or text, such as the stored
    # E.164 the admin list reads as a column, which is parsed here.
    if not isinstance(number, phonenumbers.PhoneNumber):
        try:
            number = phonenumbers.parse(str(number))
        except phonenumbers.NumberParseException:
            return str(number)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


class CustomFieldAdminForm(forms.ModelForm):
    """Choices are typed one per line rather than as JSON."""

    choices = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="For the choice type: one allowed value per line.",
    )

    class Meta:
        model = CustomField
        fields = ["key", "label", "type", "choices", "required", "help_text", "position"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial["choices"] = "\n".join(self.instance.choices or [])

    def clean_choices(self):
        lines = self.cleaned_data.get("choices", "").splitlines()
        return [line.strip() for line in lines if line.strip()]
