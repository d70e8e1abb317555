"""Load demo data: a staff user and a few hundred realistic contacts. Safe to run again."""

import datetime
import random

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from crm.demo_data import ascii_slug, demo_person, fictional_us_number
from crm.models import Contact, CustomField, PhoneNumber
from crm.services import contact_upsert

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-relay-crm"  # noqa: S105 - printed on purpose, demo mode only
DEMO_EMAIL_DOMAIN = "demo.relaycrm.test"

CUSTOM_FIELDS = [
    {
        "key": "industry",
        "label": "Industry",
        "type": CustomField.Type.CHOICE,
        "choices": ["Software", "Healthcare", "Finance", "Retail", "Manufacturing", "Education"],
    },
    {"key": "deal_size", "label": "Deal size (USD)", "type": CustomField.Type.NUMBER},
    {"key": "last_meeting", "label": "Last meeting", "type": CustomField.Type.DATE},
    {"key": "newsletter", "label": "Newsletter opt-in", "type": CustomField.Type.BOOLEAN},
    {"key": "referral_url", "label": "Referral URL", "type": CustomField.Type.URL},
]
TAGS = ["hot-lead", "tech", "vip", "newsletter", "conference-2026", "partner", "churn-risk"]


class Command(BaseCommand):
    help = "Create the demo staff user and demo contacts (idempotent; demo mode only)."

    def add_arguments(self, parser):
        parser.add_argument("--contacts", type=int, default=300)
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument(
            "--force", action="store_true", help="Run even when DEBUG is off (not for production)."
        )

    def handle(self, *args, contacts, seed, force, **options):
        if not settings.DEBUG and not force:
            raise CommandError("seed_demo creates a known password: it runs only with DEBUG on.")
        owner = self._ensure_user()
        for spec in CUSTOM_FIELDS:
            CustomField.objects.get_or_create(key=spec["key"], defaults=spec)
        created = self._ensure_contacts(contacts, seed, owner)
        total = Contact.objects.filter(email__endswith="@" + DEMO_EMAIL_DOMAIN).count()
        self.stdout.write(f"Demo contacts: {created} created, {total} in all.")

    def _ensure_user(self):
        user, created = get_user_model().objects.get_or_create(
            username=DEMO_USERNAME,
            defaults={"is_staff": True, "is_superuser": True, "email": "demo@relaycrm.test"},
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo staff user: {DEMO_USERNAME} / {DEMO_PASSWORD}"
                + ("" if created else " (already there; password unchanged)")
            )
        )
        return user

    @transaction.atomic
    def _ensure_contacts(self, count: int, seed: int, owner) -> int:
        # The same seed gives the same people, so a second run finds them all by email.
        rng = random.Random(seed)
        existing = set(
            Contact.objects.filter(email__endswith="@" + DEMO_EMAIL_DOMAIN).values_list(
                "email", flat=True
            )
        )
        created = 0
        for n in range(count):
            person = self._person(rng, n)
            if person["data"]["email"] in existing:
                continue
            person["data"]["owner"] = owner
            contact_upsert(**person)
            created += 1
        return created

    def _person(self, rng: random.Random, n: int) -> dict:
        # Every value is drawn whether or not the contact exists, so the sequence stays stable.
        data = demo_person(rng)
        first, last = ascii_slug(data["first_name"]), ascii_slug(data["last_name"])
        phones = [
            {"number": fictional_us_number(n * 2 + i), "type": rng.choice(PhoneNumber.Type.values)}
            for i in range(rng.choice([0, 1, 1, 2, 2, 3]))
        ]
        if phones and rng.random() < 0.1:
            phones[-1]["do_not_call"] = True
        last_meeting = timezone.localdate() - datetime.timedelta(days=rng.randint(0, 365))
        return {
            "data": {
                **data,
                "email": f"{first}.{last}.{n}@{DEMO_EMAIL_DOMAIN}",
                "linkedin_url": f"https://www.linkedin.com/in/{first}-{last}-{n}",
                "website": f"https://{ascii_slug(data['company'])}.example.com",
                "country": rng.choice(["US", "US", "US", "CA", "GB", "BR", "DE"]),
                "source": rng.choice(Contact.Source.values),
                "status": rng.choice(Contact.Status.values),
                "stage": rng.choice(Contact.Stage.values),
            },
            "phone_numbers": phones,
            "tags": rng.sample(TAGS, rng.randint(0, 3)),
            "custom_fields": {
                "industry": rng.choice(CUSTOM_FIELDS[0]["choices"]),
                "deal_size": rng.randrange(1_000, 250_000, 500),
                "last_meeting": last_meeting.isoformat(),
                "newsletter": rng.random() < 0.4,
            },
        }
