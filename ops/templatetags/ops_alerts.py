from django import template

from ops.selectors import alerts_active

register = template.Library()


@register.inclusion_tag("ops/active_alerts.html")
def active_alerts() -> dict:
    """The alerts active now, for the admin index."""
    return {"alerts": alerts_active()}
