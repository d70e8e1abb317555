"""How sync states read in the admin: coloured badges, one-line errors, the links' columns."""

from django.contrib import admin
from django.contrib.admin.utils import display_for_value
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

BADGE_COLOURS = {
    "pending": "#b7791f",
    "synced": "#2f855a",
    "failed": "#c53030",
    "skipped": "#718096",
    "deleting": "#b7791f",
    "deleted": "#4a5568",
    "paused": "#c53030",
    "success": "#2f855a",
    "not_found": "#b7791f",
    "retry": "#b7791f",
    "auth": "#c53030",
    "started": "#718096",
}


def badge(value: str, label: str) -> SafeString:
    # Shaped by integrations/sync.css (every admin page loads it); coloured here.
    return format_html(
        '<span class="state-badge" style="background:{}">{}</span>',
        BADGE_COLOURS.get(value, "#718096"),
        label,
    )


def error_text(code: str, message: str) -> str:
    if not (code or message):
        return ""
    return f"{code}: {message}" if code else message


def connection_status(connection) -> SafeString:
    if connection.is_paused:
        return format_html(
            '{} <span title="{}">{}</span>',
            badge("paused", "Paused"),
            connection.paused_reason,
            connection.paused_reason[:80],
        )
    if not connection.enabled:
        if connection.paused_reason:  # turned off by the provider's answer (a webhook's 410)
            return format_html(
                '{} <span title="{}">{}</span>',
                badge("skipped", "Disabled"),
                connection.paused_reason,
                connection.paused_reason[:80],
            )
        return badge("skipped", "Disabled")
    return badge("synced", "Active")


# The states in which a push (or a remote delete) is still to come.
WAITING_STATES = ("pending", "deleting")

# A sign per state, so a badge reads without its colour.
STATE_SIGNS = {
    "synced": "\u2713",  # check mark
    "pending": "\u2026",  # ellipsis
    "failed": "!",
    "skipped": "\u2013",  # en dash
    "deleting": "\u2026",
    "deleted": "\u00d7",  # multiplication sign
}


def short_text(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def short_name(name: str) -> str:
    """A connection's name as a compact badge shows it: its first word, at most 12 characters."""
    first = (name.split() or [name])[0]
    return first if len(first) <= 12 else first[:11] + "\u2026"


def contact_sync_badges(links) -> SafeString | None:
    """One compact badge per link (a sign and the connection's first word); the connection's
    full name, the state and the last error in the tooltip. None when the contact has no link."""
    badges = []
    for link in links:
        error = error_text(link.last_error_code, link.last_error_message)
        title = f"{link.connection.name}: {link.get_state_display()}"
        if link.warnings:
            title += " (left out: " + link.warnings.replace("\n", "; ") + ")"
        label = f"{STATE_SIGNS.get(link.state, '?')} {short_name(link.connection.name)}"
        badges.append(
            format_html(
                '<span class="sync-badge" data-state="{}" title="{}">{}</span>',
                link.state,
                f"{title} \u2014 {error}" if error else title,
                badge(link.state, label),
            )
        )
    if not badges:
        return None
    return format_html_join(" ", "{}", ((b,) for b in badges))


class LinkColumns:
    """A link's state and last error, as the link pages and the contact's inline show them."""

    @admin.display(description="State", ordering="state")
    def state_badge(self, obj):
        state = badge(obj.state, obj.get_state_display())
        if not obj.warnings:
            return state
        # Beside the state: a synced link may still have left values out (not a choice).
        return format_html(
            '{}<div class="link-warnings" title="{}">\u26a0 Left out: {}</div>',
            state,
            obj.warnings,
            short_text(obj.warnings.replace("\n", "; "), 160),
        )

    @admin.display(description="Last error")
    def error(self, obj):
        return error_text(obj.last_error_code, obj.last_error_message)

    @admin.display(description="Next attempt", ordering="next_attempt_at")
    def next_attempt(self, obj):
        """Only while a push is still to come: a synced, skipped or failed link has none."""
        empty = self.get_empty_value_display()
        if obj.state in WAITING_STATES and obj.next_attempt_at:
            return display_for_value(obj.next_attempt_at, empty)  # as the admin dates read
        return empty

    @admin.display(description="Failed tries", ordering="attempts")
    def failed_tries(self, obj):
        """The failed tries since the last success; none is shown as none, not as 0."""
        return obj.attempts or self.get_empty_value_display()
