"""The admin index's "Provider sync" panel: link counts per connection and state."""

from django import template

from ..selectors import link_state_counts

register = template.Library()


@register.inclusion_tag("admin/integrations/sync_dashboard.html", takes_context=True)
def sync_dashboard(context):
    request = context.get("request")
    allowed = request is not None and request.user.has_perm("integrations.view_remotelink")
    return {"rows": link_state_counts() if allowed else None}
