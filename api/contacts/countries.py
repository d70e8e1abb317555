"""The countries a contact's `country` and the list's `country` filter take, as JSON Schema
patterns: an alternation of the values, not an enum, so that a schema-driven test or client
does not handle each of some 750 values as a case of its own."""

import re

from django_countries import countries

# The characters with a meaning in a regular expression (ECMA-262, which JSON Schema uses).
SPECIAL = re.compile(r"([\\^$.|?*+()\[\]{}/-])")


def _alternatives(values: list[str]) -> str:
    return "|".join(SPECIAL.sub(r"\\\1", value) for value in values)


def country_code_pattern() -> str:
    """An ISO 3166-1 alpha-2 code, in upper or lower case."""
    codes = [code for code, _ in countries]
    return f"^({_alternatives([*codes, *(code.lower() for code in codes)])})$"


def country_input_pattern() -> str:
    """What a contact's `country` takes: a code (upper or lower case), an English country name,
    or "" for none."""
    codes = [code for code, _ in countries]
    names = [str(countries.name(code)) for code in codes]
    return f"^({_alternatives([*codes, *(code.lower() for code in codes), *names])})?$"
