"""How sync states read in the admin: coloured badges, one-line errors, the links' columns."""

from django.contrib import admin
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
    return format_html(
        '<span style="background:{};color:#fff;border-radius:8px;padding:1px 8px;'
        'font-size:11px;white-space:nowrap">{}</span>',
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


def contact_sync_badges(links) -> SafeString | None:
    """One badge per link, its error in the tooltip; None when the contact has no link."""
    badges = []
    for link in links:
        error = error_text(link.last_error_code, link.last_error_message)
        title = f"{link.connection.name}: {link.get_state_display()}"
        badges.append(
            format_html(
                '<span class="sync-badge" data-state="{}" title="{}">{}</span>',
                link.state,
                f"{title} — {error}" if error else title,
                badge(link.state, f"{link.connection.name}: {link.get_state_display()}"),
            )
        )
    if not badges:
        return None
    return format_html_join(" ", "{}", ((b,) for b in badges))


class LinkColumns:
    """A link's state and last error, as the link pages and the contact's inline show them."""

    @admin.display(description="State", ordering="state")
    def state_badge(self, obj):
        return badge(obj.state, obj.get_state_display())

    @admin.display(description="Last error")
    def error(self, obj):
        return error_text(obj.last_error_code, obj.last_error_message)
