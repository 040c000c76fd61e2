from apiary.accounts.access import Perm, user_has_permission, user_permissions
from apiary.web.navigation import nav_for


def navigation(request):
    user = getattr(request, "user", None)
    return {
        "nav_items": nav_for(user),
        "user_perms": {p.value for p in user_permissions(user)},
        "can_admin": user_has_permission(user, Perm.ADMIN_SITE),
    }
