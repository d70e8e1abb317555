"""A connection's field mapping: which of our values go to which provider field.

An entry is TARGET=SOURCE. The target is a place in the provider's payload under the prefix its
adapter declares (`custom_fields.<key>` at GetRaze, `additional_data.<key>` at Contactship,
`custom_context.<key>` at Klen AI, `custom.cf_<id>` at Close); the source is one of our contact
fields (`field:<name>`, CONTACT_FIELDS), a custom field (`cf:<key>`) or a constant
(`const:<text>`).

Each adapter has a default mapping, what it sent before mappings existed (GetRaze and Klen: every
custom field under its key; Contactship: every custom field as a typed item; Close: nothing). A
connection's entries replace that default custom-field part; the rest of the payload is as
before. Here: parsing, validating (against the provider's rules and, at Close, its fetched
fields) and applying a mapping to a contact, with the warnings for values left out.
"""

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError

from crm.custom_values import date_convert, expected_value, number_convert
from crm.models import CustomField

SOURCE_KINDS = ("field", "cf", "const")


def _text(attribute: str) -> Callable:
    return lambda contact: getattr(contact, attribute) or None


def _phone(contact) -> str | None:
    phone = contact.primary_phone()
    return phone.number.as_e164 if phone else None


def _tags(contact) -> list[str]:
    return contact.tag_names()


# Our contact fields a mapping may read: name → (value type, reader). Documented in
# docs/integrations.md ("Field mapping"); a list because tags are several values.
CONTACT_FIELDS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "email": ("text", _text("email")),
    "first_name": ("text", _text("first_name")),
    "last_name": ("text", _text("last_name")),
    "full_name": ("text", _text("full_name")),
    "company": ("text", _text("company")),
    "title": ("text", _text("title")),
    "phone": ("text", _phone),
    "linkedin_url": ("text", _text("linkedin_url")),
    "website": ("text", _text("website")),
    "address": ("text", _text("address")),
    "city": ("text", _text("city")),
    "state": ("text", _text("state")),
    "zip_code": ("text", _text("zip_code")),
    "country": ("text", lambda c: c.country.code if c.country else None),  # ISO 3166-1 alpha-2
    "country_name": ("text", lambda c: c.country.name if c.country else None),
    "status": ("text", _text("status")),
    "stage": ("text", _text("stage")),
    "source": ("text", _text("source")),
    "description": ("text", _text("description")),
    "tags": ("list", _tags),
}

# Our custom field types that read as text wherever text goes.
TEXT_LIKE = {"text", "choice", "url", "email", "boolean"}


@dataclass(frozen=True)
class Rules:
    """What an adapter's mapping targets are: `prefix` and the key after it (`key_pattern`),
    and how values are typed there: "json" (any JSON value: GetRaze, Klen), "items" (typed text
    items: Contactship), "close" (Close fields, typed by their fetched definitions)."""

    prefix: str
    values: str
    # Letters of any script (Contactship's own example names an item "dirección").
    key_pattern: str = r"\w[\w .-]{0,99}"
    key_example: str = "plan"


class MappingInvalid(ValueError):
    """A mapping with problems; `errors` lists them as (row index or None, message)."""

    def __init__(self, errors: list[tuple[int | None, str]]):
        self.errors = errors
        super().__init__("; ".join(message for _, message in errors))


@dataclass
class Mapped:
    """A mapping applied to one contact: (key, value, item type) for each target, in order,
    and what was left out."""

    values: list[tuple[str, Any, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def mapping_parse(texts: Iterable[str]) -> list[dict]:
    """Entries as typed on a command line, TARGET=SOURCE, to [{"target", "source"}]."""
    entries, errors = [], []
    for index, text in enumerate(texts):
        target, sep, source = text.partition("=")
        if not sep or not target.strip() or not source.strip():
            errors.append((index, f"{text!r}: a mapping entry is TARGET=SOURCE."))
            continue
        entries.append({"target": target.strip(), "source": source.strip()})
    if errors:
        raise MappingInvalid(errors)
    return entries


def mapping_text(entries: Sequence[Mapping]) -> list[str]:
    return [f"{entry['target']}={entry['source']}" for entry in entries]


def mapping_from_legacy(custom_field_map: Mapping | None) -> list[dict]:
    """Close's former option `custom_field_map` ({"industry": "cf_…", "tags": "cf_…"}) as
    entries: tags from our tags, any other key from the custom field of that key."""
    return [
        {"target": f"custom.{cf}", "source": "field:tags" if key == "tags" else f"cf:{key}"}
        for key, cf in sorted((custom_field_map or {}).items())
    ]


def close_field_label(definition: Mapping) -> str:
    return f"Close field {definition.get('name') or definition.get('id')}"


def mapping_validate(
    *,
    rules: Rules | None,
    label: str,
    entries: Sequence[Mapping],
    provider_fields: Sequence[Mapping] | None = None,
) -> list[dict]:
    """The entries, cleaned, or MappingInvalid naming every problem: a target the provider
    can't take (another prefix, a bad key, at Close a field it doesn't have once its fields
    were fetched), a target twice, an unknown source field or custom field, an empty constant,
    a value type the target's type can't take."""
    if rules is None:
        if entries:
            raise MappingInvalid([(None, f"{label} connections take no field mapping.")])
        return []
    custom = {f.key: f for f in CustomField.objects.all()}
    fields = {str(f.get("id")): f for f in provider_fields or ()}
    errors: list[tuple[int | None, str]] = []
    cleaned, seen = [], set()
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            errors.append((index, f'{entry!r}: an entry is {{"target": …, "source": …}}.'))
            continue
        target = str(entry.get("target") or "").strip()
        source = str(entry.get("source") or "").strip()
        problems = _target_problems(rules, label, target, fields, provider_fields is not None)
        if target in seen:
            problems.append(f"{target} is mapped twice.")
        seen.add(target)
        problems += _source_problems(source, custom)
        if not problems and rules.values == "close" and target[len(rules.prefix) :] in fields:
            definition = fields[target[len(rules.prefix) :]]
            problems += _close_type_problems(definition, source, custom)
        errors += [(index, f"{target or '(no target)'}={source}: {p}") for p in problems]
        cleaned.append({"target": target, "source": source})
    if errors:
        raise MappingInvalid(errors)
    return cleaned


def _target_problems(
    rules: Rules, label: str, target: str, fields: Mapping, fetched: bool
) -> list[str]:
    example = f"{rules.prefix}{rules.key_example}"
    if not target.startswith(rules.prefix):
        return [f"{label} takes targets {rules.prefix}<key>, like {example}."]
    key = target[len(rules.prefix) :]
    if rules.values == "close":
        if not re.fullmatch(r"cf_[A-Za-z0-9_-]+", key):
            return ["a Close target is custom.cf_<id>, the id of one of its contact fields."]
        if fetched and key not in fields:
            return [f"Close has no contact field {key} (as last fetched)."]
        return []
    if not re.fullmatch(rules.key_pattern, key):
        return [f"the key after {rules.prefix} is letters, digits, _ . - or spaces (100 at most)."]
    return []


def _source_problems(source: str, custom: Mapping[str, CustomField]) -> list[str]:
    kind, sep, name = source.partition(":")
    if not sep or kind not in SOURCE_KINDS:
        return ["a source is field:<name>, cf:<key> or const:<text>."]
    if kind == "field" and name not in CONTACT_FIELDS:
        return [f"we have no contact field {name!r} (one of {', '.join(CONTACT_FIELDS)})."]
    if kind == "cf" and name not in custom:
        return [f"no custom field has the key {name!r}."]
    if kind == "const" and not name.strip():
        return ["a constant needs a text after const:."]
    return []


def source_type(source: str, custom_types: Mapping[str, str]) -> str:
    """text, number, date, boolean, choice, url, email, list (tags) or const."""
    kind, _, name = source.partition(":")
    if kind == "field":
        return CONTACT_FIELDS[name][0]
    if kind == "cf":
        return custom_types.get(name, "text")
    return "const"


def _close_type_problems(definition: Mapping, source: str, custom: Mapping) -> list[str]:
    types = {key: f.type for key, f in custom.items()}
    kind = source_type(source, types)
    ftype, many = definition.get("type") or "text", definition.get("accepts_multiple_values")
    label = close_field_label(definition)
    if kind == "const":
        _, problem = close_value(definition, source.partition(":")[2])
        return [problem] if problem else []
    if kind == "list" and not many:
        return [f"tags are several values; {label} takes one."]
    accepts = {
        "number": {"number"},
        "date": {"date"},
        "datetime": {"date"},
        "user": set(),
        "contact": set(),
    }.get(ftype, TEXT_LIKE | {"number", "date", "list"})
    if kind not in accepts:
        return [f"a {kind} value can't convert to {label}, a {ftype} field."]
    return []


def close_value(definition: Mapping, value: Any) -> tuple[Any, str]:
    """One value converted to a Close field's type: (value, "") or (None, why not)."""
    ftype, label = definition.get("type") or "text", close_field_label(definition)
    try:
        if ftype == "number":
            return number_convert(value), ""
        if ftype in ("date", "datetime"):
            return date_convert(value), ""
    except (ValueError, TypeError, ValidationError) as exc:
        reason = "; ".join(exc.messages) if isinstance(exc, ValidationError) else ""
        reason = reason or expected_value("date" if ftype == "datetime" else ftype, ())
        return None, f"{value!r} can't convert to {label}, a {ftype} field: {reason}"
    if ftype in ("user", "contact"):
        return None, f"{label} holds Close {ftype}s, which we have none of."
    text = str(value).lower() if isinstance(value, bool) else str(value)
    choices = definition.get("choices") or []
    if ftype == "choices" and text not in choices:
        return None, f"{text!r} is not a choice of {label}."
    return text, ""


def mapping_apply(
    *,
    entries: Sequence[Mapping],
    contact,
    custom_types: Mapping[str, str],
    provider_fields: Sequence[Mapping] | None = None,
    prefix: str,
) -> Mapped:
    """The values the entries give for `contact`, keyed by the target without its prefix.

    At Close, with its fields fetched, each value is converted to its field's type and checked
    against its choices: what the field can't take is left out and named in the warnings (the
    rest of a tag list still goes); without them, values go as they are."""
    mapped = Mapped()
    fields = {str(f.get("id")): f for f in provider_fields or ()}
    for entry in entries:
        key, source = entry["target"][len(prefix) :], entry["source"]
        kind, _, name = source.partition(":")
        value = _source_value(kind, name, contact)
        item_type = {"number": "number", "date": "date"}.get(source_type(source, custom_types))
        definition = fields.get(key)
        if definition is not None and value is not None:
            value = _close_checked(definition, kind, name, value, mapped.warnings)
            if value is _LEFT_OUT:
                continue
        mapped.values.append((key, value, item_type or "text"))
    return mapped


_LEFT_OUT = object()


def _source_value(kind: str, name: str, contact) -> Any:
    if kind == "field":
        return CONTACT_FIELDS[name][1](contact)
    if kind == "cf":
        value = (contact.custom_fields or {}).get(name)
        return None if value in ("", []) else value
    return name


def _close_checked(definition: Mapping, kind: str, name: str, value: Any, warnings: list) -> Any:
    noun = "tag" if (kind, name) == ("field", "tags") else f"{name} value"
    if definition.get("accepts_multiple_values"):
        kept = []
        for item in value if isinstance(value, list) else [value]:
            converted, problem = close_value(definition, item)
            if problem:
                warnings.append(f"{noun} {problem}")
            else:
                kept.append(converted)
        return kept
    if isinstance(value, list):
        warnings.append(f"{noun}s are several values; {close_field_label(definition)} takes one.")
        return _LEFT_OUT
    converted, problem = close_value(definition, value)
    if problem:
        warnings.append(f"{noun} {problem}")
        return _LEFT_OUT
    return converted
