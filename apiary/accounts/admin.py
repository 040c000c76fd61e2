from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from apiary.accounts import services
from apiary.accounts.models import ApiToken, LoginFailure, User, Workspace


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "display_name", "role", "is_active", "date_joined"]
    list_filter = ["role", "is_active"]
    search_fields = ["email", "display_name"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Profile", {"fields": ["display_name", "language", "time_zone"]}),
        ("Access", {"fields": ["role", "is_active"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"fields": ["email", "password1", "password2", "role"]})]
    readonly_fields = ["last_login", "date_joined"]

    def save_model(self, request, obj, form, change):
        # Keep Django's admin flags derived from the role, whichever screen changed it.
        services.role_flags_apply(obj, obj.role)
        super().save_model(request, obj, form, change)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "digest"]


admin.site.register(Workspace)
admin.site.register(LoginFailure)
