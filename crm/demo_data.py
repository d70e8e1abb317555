"""Demo people for `seed_demo`, drawn from plain lists: no dev-only package needed.

Everything is drawn from the caller's random.Random, so the same seed gives the same people.
"""

import random
import unicodedata
from typing import Any

# Area codes whose 555-01xx numbers libphonenumber accepts as valid; 555-0100..0199 are
# reserved for fiction in North America, so demo data never dials a real person.
AREA_CODES = ["212", "312", "415", "512", "617", "646", "702", "720", "808", "917"]

FIRST_NAMES = [
    "Ada", "Aisha", "Alejandro", "Amara", "Ana", "Ben", "Camila", "Chen", "Daniel", "Diego",
    "Elena", "Emeka", "Emma", "Farah", "Gabriel", "Grace", "Hana", "Hugo", "Isabel", "Ivan",
    "James", "Jonas", "Kai", "Kenji", "Laura", "Leila", "Liam", "Lucas", "Maya", "Mateo",
    "Mei", "Nadia", "Noah", "Olivia", "Omar", "Priya", "Rafael", "Rosa", "Sara", "Sofia",
    "Tomás", "Yara",
]  # fmt: skip
LAST_NAMES = [
    "Almeida", "Anderson", "Baker", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Haddad",
    "Hughes", "Ito", "Jensen", "Kim", "Kowalski", "Lambert", "Lee", "Lopez", "Martin",
    "Moreau", "Müller", "Nakamura", "Nguyen", "Novak", "Okafor", "Olsen", "Patel", "Pereira",
    "Quinn", "Rossi", "Santos", "Schmidt", "Silva", "Singh", "Tanaka", "Turner", "Walker",
    "Weber", "Wright", "Yilmaz", "Zhang",
]  # fmt: skip
COMPANY_WORDS = [
    "Apex", "Blue Harbor", "Brightline", "Cedar", "Copperleaf", "Evergreen", "Falcon",
    "Granite", "Harbor", "Ironwood", "Juniper", "Keystone", "Lakeside", "Meridian", "Northwind",
    "Orchid", "Pinnacle", "Quarry", "Redwood", "Silverline", "Summit", "Tidewater", "Vertex",
    "Willow",
]  # fmt: skip
COMPANY_KINDS = [
    "Analytics", "Consulting", "Foods", "Health", "Labs", "Logistics", "Media", "Partners",
    "Robotics", "Software", "Systems", "Ventures",
]  # fmt: skip
COMPANY_SUFFIXES = ["Inc", "LLC", "Group", "Co", "Ltd"]
JOB_TITLES = [
    "Account Executive", "Chief Executive Officer", "Chief Technology Officer",
    "Customer Success Manager", "Data Analyst", "Engineering Manager", "Founder",
    "Head of Marketing", "Head of Sales", "Marketing Manager", "Office Manager",
    "Operations Director", "Product Designer", "Product Manager", "Purchasing Manager",
    "Software Engineer", "VP of Finance", "VP of Operations",
]  # fmt: skip
STREETS = [
    "Maple Avenue", "Oak Street", "Pine Road", "Cedar Lane", "Elm Street", "Lake Drive",
    "Hill Road", "Park Avenue", "River Road", "Main Street", "Sunset Boulevard", "Mill Lane",
]  # fmt: skip
# (city, state, ZIP code) that belong together.
PLACES = [
    ("Austin", "TX", "78701"), ("Boston", "MA", "02108"), ("Chicago", "IL", "60601"),
    ("Denver", "CO", "80202"), ("Honolulu", "HI", "96813"), ("Las Vegas", "NV", "89101"),
    ("New York", "NY", "10001"), ("Portland", "OR", "97201"), ("San Francisco", "CA", "94105"),
    ("Seattle", "WA", "98101"), ("Miami", "FL", "33130"), ("Atlanta", "GA", "30303"),
]  # fmt: skip
MET_AT = [
    "Met at a trade show", "Introduced by a customer", "Found us through the blog",
    "Asked for a demo", "Came from a webinar", "Referred by a partner",
]  # fmt: skip
INTERESTS = [
    "interested in the annual plan", "evaluating two other vendors",
    "wants an integration with their CRM", "asked about volume pricing",
    "follow up after the next quarter", "needs a security review first",
]  # fmt: skip


def fictional_us_number(n: int) -> str:
    """The n-th number of a fictional North American range, in E.164."""
    return f"+1{AREA_CODES[n % len(AREA_CODES)]}555{(n // len(AREA_CODES)) % 100 + 100:04d}"


def demo_company(rng: random.Random) -> str:
    return f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_KINDS)} {rng.choice(COMPANY_SUFFIXES)}"


def demo_person(rng: random.Random) -> dict[str, Any]:
    """One fictional person's name, job, company and address."""
    city, state, zip_code = rng.choice(PLACES)
    return {
        "first_name": rng.choice(FIRST_NAMES),
        "last_name": rng.choice(LAST_NAMES),
        "company": demo_company(rng),
        "title": rng.choice(JOB_TITLES),
        "address": f"{rng.randint(1, 9899)} {rng.choice(STREETS)}",
        "city": city,
        "state": state,
        "zip_code": zip_code,
        "description": f"{rng.choice(MET_AT)}; {rng.choice(INTERESTS)}.",
    }


def ascii_slug(text: str) -> str:
    """Lowercase ASCII letters, digits and hyphens ("Tomás Müller" is "tomas-muller"), for
    emails and URLs."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = "".join(c if c.isalnum() else " " for c in folded.lower()).split()
    return "-".join(words)
