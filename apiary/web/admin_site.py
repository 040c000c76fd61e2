from django.contrib import admin
from django.utils.translation import gettext_lazy as _


class ApiaryAdminSite(admin.AdminSite):
    """Django admin for raw data; the role matrix in accounts.access decides who gets in."""

    site_header = _("Apiary administration")
    site_title = _("Apiary admin")

    def has_permission(self, request):
        from apiary.accounts.access import Perm, user_has_permission

        return user_has_permission(request.user, Perm.ADMIN_SITE)
