from django.contrib import admin

from .models import Alert


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    """Alerts are raised and cleared by the scheduler: staff read them, nobody edits them."""

    list_display = ["summary", "active", "raised_at", "cleared_at", "last_sent_at"]
    list_filter = ["active"]
    search_fields = ["summary", "key"]
    readonly_fields = [field.name for field in Alert._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
