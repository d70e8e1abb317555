"""The contact domain: contacts, their phone numbers, tags and typed custom fields.

This app knows nothing of providers; `integrations` builds on it.
"""

import decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django_countries.fields import CountryField
from phonenumber_field.modelfields import PhoneNumberField

from .custom_values import (
    NUMBER_MAX_DIGITS,
    TEXT_MAX_LENGTH,
    custom_value_convert,
    expected_value,
)


class Tag(models.Model):
    name = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = [Lower("name")]
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                name="crm_tag_name_ci_unique",
                violation_error_message="A tag with this name already exists.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        self.name = " ".join(self.name.split())
        super().save(*args, **kwargs)


class CustomField(models.Model):
    """A staff-defined contact attribute; values live in `Contact.custom_fields[key]`."""

    class Type(models.TextChoices):
        TEXT = "text", "Text"
        NUMBER = "number", "Number"
        DATE = "date", "Date"
        BOOLEAN = "boolean", "Yes / no"
        CHOICE = "choice", "Choice"
        URL = "url", "URL"
        EMAIL = "email", "Email"

    TEXT_MAX_LENGTH = TEXT_MAX_LENGTH
    NUMBER_MAX_DIGITS = NUMBER_MAX_DIGITS

    key = models.CharField(
        max_length=64,
        unique=True,
        validators=[
            RegexValidator(
                r"^[a-z][a-z0-9_]*\Z",
                "Use lowercase letters, digits and underscores, starting with a letter.",
            )
        ],
        help_text="Machine name used in the API and exports, e.g. industry or deal_size.",
    )
    label = models.CharField(max_length=100)
    type = models.CharField(max_length=10, choices=Type.choices, default=Type.TEXT)
    choices = models.JSONField(
        default=list, blank=True, help_text="The allowed values, for the choice type."
    )
    required = models.BooleanField(default=False)
    help_text = models.CharField(max_length=255, blank=True)
    position = models.PositiveSmallIntegerField(
        default=0, help_text="Fields are shown in this order, then by label."
    )

    class Meta:
        ordering = ["position", "label"]

    def __str__(self) -> str:
        return f"{self.label} ({self.key})"

    def clean(self) -> None:
        if not isinstance(self.choices, list) or not all(
            isinstance(c, str) and c.strip() for c in self.choices
        ):
            raise ValidationError({"choices": "Choices must be a list of non-empty texts."})
        self.choices = [c.strip() for c in self.choices]
        if len({c.lower() for c in self.choices}) != len(self.choices):
            raise ValidationError({"choices": "Choices must be unique."})
        if self.type == self.Type.CHOICE and not self.choices:
            raise ValidationError({"choices": "A choice field needs at least one choice."})
        if self.type != self.Type.CHOICE and self.choices:
            raise ValidationError({"choices": "Only choice fields take choices."})

    def to_value(self, raw):
        """Validate one raw value and return it normalised for JSON storage.

        Returns None for an empty value. Raises ValidationError (code `invalid_custom_field`)
        with a message that names the field. The conversions are in crm.custom_values.
        """
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
        try:
            return custom_value_convert(self.type, raw, choices=self.choices)
        except (ValueError, TypeError, ValidationError, decimal.InvalidOperation) as exc:
            reason = exc.messages[0] if isinstance(exc, ValidationError) else None
            raise ValidationError(
                "%(label)s: %(reason)s",
                code="invalid_custom_field",
                params={
                    "label": self.label,
                    "reason": reason or expected_value(self.type, self.choices),
                },
            ) from exc


class Contact(models.Model):
    class Source(models.TextChoices):
        OTHER = "other", "Other"
        WEBSITE = "website", "Website"
        REFERRAL = "referral", "Referral"
        LINKEDIN = "linkedin", "LinkedIn"
        EVENT = "event", "Event"
        COLD_OUTREACH = "cold_outreach", "Cold outreach"
        IMPORT = "import", "Import"
        API = "api", "API"

    class Status(models.TextChoices):
        NOT_CONTACTED = "not_contacted", "Not contacted"
        CONTACTED = "contacted", "Contacted"
        ACTIVE = "active", "Active"
        UNRESPONSIVE = "unresponsive", "Unresponsive"
        DO_NOT_CONTACT = "do_not_contact", "Do not contact"

    class Stage(models.TextChoices):
        LEAD = "lead", "Lead"
        PROSPECT = "prospect", "Prospect"
        QUALIFIED_LEAD = "qualified_lead", "Qualified lead"
        CUSTOMER = "customer", "Customer"
        LOST = "lost", "Lost"

    first_name = models.CharField(max_length=150)
    last_name = models.CharField(max_length=150, blank=True)
    email = models.EmailField(max_length=254, blank=True)
    company = models.CharField(max_length=200, blank=True)
    title = models.CharField("job title", max_length=200, blank=True)
    linkedin_url = models.URLField("LinkedIn URL", max_length=500, blank=True)
    website = models.URLField(max_length=500, blank=True)
    address = models.CharField("street address", max_length=255, blank=True)
    city = models.CharField(max_length=120, blank=True)
    state = models.CharField("state / province", max_length=120, blank=True)
    zip_code = models.CharField("ZIP / postal code", max_length=20, blank=True)
    country = CountryField(blank=True)
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.OTHER)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NOT_CONTACTED)
    stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.LEAD)
    description = models.TextField(blank=True, max_length=10_000)
    tags = models.ManyToManyField(Tag, blank=True, related_name="contacts")
    custom_fields = models.JSONField(default=dict, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="contacts",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                condition=~Q(email=""),
                name="crm_contact_email_ci_unique",
                violation_error_code="already_exists",
                violation_error_message="A contact with this email already exists.",
            ),
        ]
        indexes = [
            models.Index(fields=["last_name", "first_name"], name="crm_contact_name_idx"),
            models.Index(fields=["company"], name="crm_contact_company_idx"),
            models.Index(fields=["stage"], name="crm_contact_stage_idx"),
            models.Index(fields=["status"], name="crm_contact_status_idx"),
            models.Index(fields=["source"], name="crm_contact_source_idx"),
            models.Index(fields=["country"], name="crm_contact_country_idx"),
            models.Index(fields=["created_at"], name="crm_contact_created_idx"),
            models.Index(fields=["-updated_at", "-id"], name="crm_contact_updated_idx"),
        ]

    def __str__(self) -> str:
        name = self.full_name
        return f"{name} <{self.email}>" if self.email else name

    def save(self, *args, **kwargs):
        self.email = normalize_email(self.email)
        super().save(*args, **kwargs)

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)

    # Set by crm.bulk_read for contacts read in bulk: their tag names and phone numbers as
    # plain values. None: read through the related managers (prefetched or not).
    loaded_tag_names: list[str] | None = None
    loaded_phones: list | None = None

    def tag_names(self) -> list[str]:
        """The tag names in case-insensitive order (a payload's hash depends on it)."""
        names = self.loaded_tag_names
        if names is None:
            names = [tag.name for tag in self.tags.all()]
        return sorted(names, key=str.lower)

    def phones(self) -> list:
        """The phone numbers, primary first: PhoneNumber instances (prefetched or not), or
        crm.bulk_read's stored values, which read the same (number, type, is_primary,
        do_not_call)."""
        if self.loaded_phones is not None:
            return list(self.loaded_phones)
        return list(self.phone_numbers.all())

    def primary_phone(self):
        """The primary phone number (see `phones`), else the first, else None."""
        phones = self.phones()
        return next((p for p in phones if p.is_primary), phones[0] if phones else None)


def normalize_email(email: str) -> str:
    """Emails compare case-insensitively in practice, so they are stored lowercased."""
    return (email or "").strip().lower()


class PhoneNumber(models.Model):
    class Type(models.TextChoices):
        MOBILE = "mobile", "Mobile"
        WORK = "work", "Work"
        HOME = "home", "Home"
        FAX = "fax", "Fax"
        OTHER = "other", "Other"

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="phone_numbers")
    number = PhoneNumberField(
        help_text="Any format; national numbers are read in the default region."
    )
    type = models.CharField(max_length=10, choices=Type.choices, default=Type.MOBILE)
    is_primary = models.BooleanField("primary", default=False)
    do_not_call = models.BooleanField(default=False)

    class Meta:
        ordering = ["-is_primary", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["contact", "number"],
                name="crm_phone_unique_per_contact",
                violation_error_message="This contact already has this phone number.",
            ),
            models.UniqueConstraint(
                fields=["contact"],
                condition=Q(is_primary=True),
                name="crm_phone_one_primary",
                violation_error_message="A contact has at most one primary phone number.",
            ),
        ]
        indexes = [models.Index(fields=["number"], name="crm_phone_number_idx")]

    def __str__(self) -> str:
        return str(self.number)


class ContactJob(models.Model):
    """What the contact jobs the worker runs (an import, a delete, an export) have in common:
    their state, who asked, when, and why one failed."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]

    @classmethod
    def job_start(cls, pk: int) -> bool:
        """Mark a queued job running; False when it isn't queued (already taken: the worker
        runs a task at least once, so a repeated task must do nothing)."""
        rows = cls.objects.filter(pk=pk, status=cls.Status.QUEUED)
        return bool(rows.update(status=cls.Status.RUNNING))


class ContactImport(ContactJob):
    """A confirmed contact file, imported in the background (crm.importing, crm.tasks).

    The row holds the file and the final outcome; the running counts live in the cache while
    the import's transaction is open (see crm.importing for why).
    """

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        XLSX = "xlsx", "XLSX"

    file_name = models.CharField(max_length=255, blank=True)
    format = models.CharField(max_length=10, choices=Format.choices)
    content = models.BinaryField(help_text="The uploaded file, as uploaded (CSV as UTF-8).")
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    new = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    invalid = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"Import {self.pk} ({self.file_name}): {self.status}"


class ContactDeletion(ContactJob):
    """A confirmed "Delete selected contacts" of a large selection, run by the worker
    (crm.bulk_delete, crm.tasks). The selection is kept as the contact list carried it (its
    query string, "select all" or the ticked ids) and resolved again by the worker."""

    query = models.TextField(blank=True, help_text="The contact list's query string.")
    select_across = models.BooleanField(default=False)
    selected = models.JSONField(default=list, blank=True, help_text="The ticked contacts' ids.")
    upto = models.BigIntegerField(
        null=True, blank=True, help_text="The highest contact id when the selection was counted."
    )
    total = models.PositiveIntegerField(default=0)
    deleted = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"Deletion {self.pk}: {self.status}"


class ContactExport(ContactJob):
    """A large contact export, written by the worker to the private "exports" storage
    (crm.bulk_export) and downloaded from its progress page by the staff member who asked."""

    query = models.TextField(blank=True, help_text="The contact list's query string.")
    form_data = models.JSONField(default=dict, help_text="The export form as posted.")
    total = models.PositiveIntegerField(default=0)
    file = models.CharField(max_length=255, blank=True, help_text="Its name in the storage.")
    file_name = models.CharField(max_length=255, blank=True, help_text="The download's name.")

    def __str__(self) -> str:
        return f"Export {self.pk}: {self.status}"
