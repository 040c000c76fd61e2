"""Reads for accounts."""

from __future__ import annotations

from django.db.models import QuerySet

from apiary.accounts.models import ApiToken, User, Workspace


def user_list(*, role: str | None = None, search: str | None = None) -> QuerySet[User]:
    qs = User.objects.order_by("email")
    if role:
        qs = qs.filter(role=role)
    if search:
        qs = qs.filter(email__icontains=search) | qs.filter(display_name__icontains=search)
    return qs


def api_token_list(*, user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).order_by("-created_at")


def workspace_get() -> Workspace | None:
    return Workspace.objects.order_by("pk").first()
