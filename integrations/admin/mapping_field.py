"""The connection form's field mapping: one row per entry (target, source, constant), not JSON.

The target is a text box with the provider's prefix as its hint or, at Close once its fields
were fetched, a choice of those fields; the source a choice of our contact fields and custom
fields, or "a constant" with the text beside it. A few empty rows follow the entries; a row
left empty is no entry. The form checks the rows with integrations.mapping's rules.
"""

from django import forms
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from crm.models import CustomField

from ..mapping import CONTACT_FIELDS, close_field_label

BLANK_ROWS = 3
MAX_ROWS = 200
CONST = "const"


class MappingWidget(forms.Widget):
    def __init__(self, attrs=None):
        super().__init__(attrs)
        self.placeholder = ""
        # [(target, label)]: Close's fetched fields; None: a text box.
        self.target_choices: list[tuple[str, str]] | None = None

    def value_from_datadict(self, data, files, name) -> list[dict]:
        rows = []
        for index in range(MAX_ROWS):
            prefix = f"{name}-{index}-"
            if not any(prefix + part in data for part in ("target", "source", "const")):
                break
            target = (data.get(prefix + "target") or "").strip()
            kind = (data.get(prefix + "source") or "").strip()
            const = data.get(prefix + "const") or ""
            source = f"{CONST}:{const.strip()}" if kind == CONST else kind
            if target or kind or const.strip():
                rows.append({"target": target, "source": source})
        return rows

    def value_omitted_from_data(self, data, files, name) -> bool:
        # A post without the rows (a client's own form) keeps the stored mapping.
        return f"{name}-present" not in data

    def render(self, name, value, attrs=None, renderer=None) -> SafeString:
        entries = list(value or []) + [{"target": "", "source": ""}] * BLANK_ROWS
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            (self.row(name, index, entry) for index, entry in enumerate(entries)),
        )
        return format_html(
            '<input type="hidden" name="{}-present" value="1">'
            '<table class="field-map" id="id_{}"><thead><tr><th>Provider field (target)</th>'
            "<th>Our value (source)</th><th>Constant</th></tr></thead><tbody>{}</tbody></table>",
            name,
            name,
            rows,
        )

    def row(self, name: str, index: int, entry: dict) -> tuple:
        prefix = f"{name}-{index}-"
        kind, _, const = str(entry.get("source") or "").partition(":")
        source = CONST if kind == CONST else str(entry.get("source") or "")
        return (
            self.target_input(prefix + "target", str(entry.get("target") or "")),
            select(prefix + "source", source, source_choices()),
            format_html(
                '<input type="text" name="{}" value="{}" size="16" aria-label="Constant">',
                prefix + "const",
                const if kind == CONST else "",
            ),
        )

    def target_input(self, name: str, value: str) -> SafeString:
        if self.target_choices is None:
            return format_html(
                '<input type="text" name="{}" value="{}" placeholder="{}" size="28" '
                'aria-label="Target">',
                name,
                value,
                self.placeholder,
            )
        choices = [("", "—"), *self.target_choices]
        if value and value not in dict(choices):  # kept, so its error can be read and fixed
            choices.append((value, f"{value} (not among the fetched fields)"))
        return select(name, value, choices, label="Target")


def select(name: str, value: str, choices: list, label: str = "Source") -> SafeString:
    """A <select>; a choice whose value is a list is an <optgroup> of its (value, label)s."""

    def option(key, text):
        return format_html(
            '<option value="{}"{}>{}</option>', key, " selected" if key == value else "", text
        )

    parts = []
    for key, text in choices:
        if isinstance(text, list):
            inner = format_html_join("", "{}", ((option(k, v),) for k, v in text))
            parts.append(format_html('<optgroup label="{}">{}</optgroup>', key, inner))
        else:
            parts.append(option(key, text))
    return format_html(
        '<select name="{}" aria-label="{}">{}</select>',
        name,
        label,
        format_html_join("", "{}", ((p,) for p in parts)),
    )


def source_choices() -> list:
    ours = [(f"field:{name}", name) for name in CONTACT_FIELDS]
    custom = [(f"cf:{key}", f"{label} ({key})") for key, label in custom_fields()]
    return [
        ("", "—"),
        ("Our contact fields", ours),
        ("Custom fields", custom),
        (CONST, "A constant (beside)"),
    ]


def custom_fields() -> list[tuple[str, str]]:
    return list(CustomField.objects.values_list("key", "label"))


def close_target_choices(fields: list[dict]) -> list[tuple[str, str]]:
    """Close's fetched fields as target choices: "Industry (choices)"."""
    choices = []
    for definition in fields:
        many = ", several values" if definition.get("accepts_multiple_values") else ""
        label = close_field_label(definition).removeprefix("Close field ")
        choices.append((f"custom.{definition['id']}", f"{label} ({definition.get('type')}{many})"))
    return choices


class MappingField(forms.Field):
    widget = MappingWidget

    def to_python(self, value) -> list[dict]:
        return list(value or [])
