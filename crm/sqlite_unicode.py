"""Unicode case rules for SQLite, so the embedded database compares text like PostgreSQL.

SQLite's built-in LOWER() and UPPER() fold ASCII letters only, and so does its LIKE, which
Django uses for `iexact`, `icontains` and the other case-insensitive lookups. PostgreSQL (in a
UTF-8 locale) folds every letter. Without this module, on SQLite a tag "ÉLITE" and a tag
"élite" were two tags, `?tag=ÉLITE` missed contacts tagged "élite", and a search for
"ærøskøbing" missed "Ærøskøbing".

SQLite lets an application replace its built-in functions per connection, which is what
`install` does on every new connection: LOWER and UPPER become Python's `str.lower` and
`str.upper` (the same case mapping as PostgreSQL's for every letter a name or email holds),
and LIKE matches case-insensitively in Unicode. The functions are deterministic, so indexes on
LOWER(...) (the unique tag name and contact email) use them; migration 0005 rebuilds those
indexes once for rows written before.
"""

import functools
import re

from django.db.backends.signals import connection_created


def install(sender, connection, **kwargs) -> None:
    if connection.vendor != "sqlite":
        return
    raw = connection.connection
    raw.create_function("lower", 1, lower, deterministic=True)
    raw.create_function("upper", 1, upper, deterministic=True)
    raw.create_function("like", 2, like, deterministic=True)
    raw.create_function("like", 3, like, deterministic=True)


def connect() -> None:
    connection_created.connect(install, dispatch_uid="crm.sqlite_unicode")


def lower(value):
    return value.lower() if isinstance(value, str) else value


def upper(value):
    return value.upper() if isinstance(value, str) else value


def like(pattern, value, escape=None):
    # SQLite calls like(pattern, value[, escape]) for `value LIKE pattern [ESCAPE escape]`.
    if pattern is None or value is None:
        return None
    return like_regex(str(pattern), escape).fullmatch(str(value)) is not None


@functools.lru_cache(maxsize=512)
def like_regex(pattern: str, escape: str | None) -> re.Pattern:
    parts = []
    characters = iter(pattern)
    for character in characters:
        if escape and character == escape:
            parts.append(re.escape(next(characters, "")))
        elif character == "%":
            parts.append(".*")
        elif character == "_":
            parts.append(".")
        else:
            parts.append(re.escape(character))
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)
