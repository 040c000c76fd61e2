"""Role permissions: the one place that decides what a staff role or a member may do.

Views use :func:`permission_required`, the API uses :func:`api_require`, templates use
``nav``/``perms`` from the context processor; all of them ask :func:`user_has_permission`.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from functools import wraps

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from apiary.accounts.models import Role, User


class Perm(StrEnum):
    ADMIN_SITE = "admin.site"
    USERS_MANAGE = "users.manage"
    WORKSPACE_MANAGE = "workspace.manage"
    DASHBOARD_VIEW = "dashboard.view"
    CUSTOMERS_VIEW = "customers.view"
    CUSTOMERS_EDIT = "customers.edit"
    PRIVACY_MANAGE = "privacy.manage"
    LISTENING_VIEW = "listening.view"
    LISTENING_MANAGE = "listening.manage"
    CARE_INBOX = "care.inbox"
    CARE_MANAGE = "care.manage"  # SLA policies, inbox rules, canned responses, assignment of others
    ALERTS_VIEW = "alerts.view"
    ALERTS_MANAGE = "alerts.manage"  # alert rules and webhook endpoints
    COMMUNITY_MANAGE = "community.manage"
    COMMUNITY_PARTICIPATE = "community.participate"
    ANALYTICS_VIEW = "analytics.view"
    API_TOKENS = "api.tokens"


_EVERYONE = {Perm.DASHBOARD_VIEW, Perm.COMMUNITY_PARTICIPATE, Perm.API_TOKENS}

ROLE_PERMISSIONS: dict[str, frozenset[Perm]] = {
    Role.ADMIN: frozenset(Perm),
    Role.COMMUNITY_MANAGER: frozenset(
        _EVERYONE
        | {Perm.COMMUNITY_MANAGE, Perm.CUSTOMERS_VIEW, Perm.ANALYTICS_VIEW, Perm.LISTENING_VIEW}
    ),
    Role.CARE_AGENT: frozenset(
        _EVERYONE
        | {
            Perm.CARE_INBOX,
            Perm.CUSTOMERS_VIEW,
            Perm.CUSTOMERS_EDIT,
            Perm.LISTENING_VIEW,
            Perm.ALERTS_VIEW,
        }
    ),
    Role.CARE_MANAGER: frozenset(
        _EVERYONE
        | {
            Perm.CARE_INBOX,
            Perm.CARE_MANAGE,
            Perm.CUSTOMERS_VIEW,
            Perm.CUSTOMERS_EDIT,
            Perm.LISTENING_VIEW,
            Perm.ALERTS_VIEW,
            Perm.ALERTS_MANAGE,
            Perm.ANALYTICS_VIEW,
        }
    ),
    Role.ANALYST: frozenset(
        _EVERYONE
        | {Perm.ANALYTICS_VIEW, Perm.LISTENING_VIEW, Perm.CUSTOMERS_VIEW, Perm.ALERTS_VIEW}
    ),
    Role.MEMBER: frozenset(_EVERYONE),
}


def user_has_permission(user: User | None, perm: Perm | str) -> bool:
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return Perm(perm) in ROLE_PERMISSIONS.get(user.role, frozenset())


def user_permissions(user: User | None) -> frozenset[Perm]:
    if user is None or not user.is_authenticated or not user.is_active:
        return frozenset()
    return ROLE_PERMISSIONS.get(user.role, frozenset())


def permission_required(perm: Perm) -> Callable:
    """View decorator: anonymous users go to the login page, others without ``perm`` get 403."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs):
            if not request.user.is_authenticated:
                from django.contrib.auth.views import redirect_to_login

                return redirect_to_login(request.get_full_path())
            if not user_has_permission(request.user, perm):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def api_user(request: HttpRequest) -> User:
    """The API caller: the token's user (``request.auth``) or the session's."""
    return getattr(request, "auth", None) or request.user


def api_require(request: HttpRequest, perm: Perm) -> User:
    """API check: returns the authenticated user or raises a 403 JSON error."""
    from django.utils.translation import gettext as _

    from apiary.core.errors import ApiError

    user = api_user(request)
    if not user_has_permission(user, perm):
        raise ApiError(403, "permission_denied", _("You do not have permission to do this."))
    return user
