"""Accounts API: registration, the current user, personal tokens, staff user management."""

from datetime import datetime

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate

from apiary.accounts import selectors, services
from apiary.accounts.access import Perm, api_require, user_permissions
from apiary.accounts.models import ApiToken, Role, User
from apiary.core.errors import ApiError
from apiary.core.pagination import LimitOffset
from apiary.core.schemas import StrictIn

router = Router(tags=["accounts"])


class UserOut(Schema):
    id: int
    email: str
    display_name: str
    role: Role
    language: str
    time_zone: str
    is_active: bool
    date_joined: datetime


class MeOut(UserOut):
    permissions: list[str]


class RegisterIn(StrictIn):
    email: str = Field(..., max_length=254)
    password: str = Field(..., max_length=256)
    display_name: str = Field("", max_length=120)
    language: str = Field("", max_length=8)


class LoginIn(StrictIn):
    email: str = Field(..., max_length=254)
    password: str = Field(..., max_length=256)
    token_name: str = Field("api", min_length=1, max_length=80)


class MePatch(StrictIn):
    display_name: str | None = Field(None, max_length=120)
    language: str | None = Field(None, max_length=8)
    time_zone: str | None = Field(None, max_length=64)


class TokenIn(StrictIn):
    name: str = Field(..., min_length=1, max_length=80)
    expires_at: datetime | None = None


class TokenOut(Schema):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class TokenCreatedOut(TokenOut):
    token: str = Field(..., description="The secret. Shown only in this response.")


class StaffUserIn(StrictIn):
    email: str = Field(..., max_length=254)
    password: str = Field(..., max_length=256)
    role: Role
    display_name: str = Field("", max_length=120)


class UserPatch(StrictIn):
    role: Role | None = None
    is_active: bool | None = None


def _me(user: User) -> dict:
    data = UserOut.from_orm(user).dict()
    data["permissions"] = sorted(p.value for p in user_permissions(user))
    return data


@router.post("/auth/register", auth=None, response={201: UserOut}, summary="Register a member")
def register(request, payload: RegisterIn):
    user = services.member_register(
        email=payload.email,
        password=payload.password,
        display_name=payload.display_name,
        language=payload.language,
    )
    return Status(201, user)


@router.post(
    "/auth/token", auth=None, response={201: TokenCreatedOut}, summary="Log in for a token"
)
def login_for_token(request, payload: LoginIn):
    try:
        user = services.user_authenticate(
            request=request, email=payload.email, password=payload.password
        )
    except services.LoginThrottled:
        raise ApiError(
            429, "throttled", _("Too many failed attempts. Wait a few minutes and try again.")
        ) from None
    if user is None:
        raise ApiError(401, "invalid_credentials", _("The e-mail or password is not correct."))
    token, raw = services.api_token_create(user=user, name=payload.token_name)
    return Status(201, {**TokenOut.from_orm(token).dict(), "token": raw})


@router.get("/me", response=MeOut)
def me(request):
    return _me(request.auth)


@router.patch("/me", response=MeOut)
def me_update(request, payload: MePatch):
    user = request.auth
    services.user_preferences_set(user=user, language=payload.language, time_zone=payload.time_zone)
    if payload.display_name is not None:
        user.display_name = payload.display_name.strip()
        user.save(update_fields=["display_name"])
    return _me(user)


@router.get("/tokens", response=list[TokenOut])
@paginate(LimitOffset)
def token_list(request):
    api_require(request, Perm.API_TOKENS)
    return selectors.api_token_list(user=request.auth)


@router.post("/tokens", response={201: TokenCreatedOut})
def token_create(request, payload: TokenIn):
    user = api_require(request, Perm.API_TOKENS)
    token, raw = services.api_token_create(
        user=user, name=payload.name, expires_at=payload.expires_at
    )
    return Status(201, {**TokenOut.from_orm(token).dict(), "token": raw})


@router.delete("/tokens/{token_id}", response={204: None})
def token_revoke(request, token_id: int):
    user = api_require(request, Perm.API_TOKENS)
    token = get_object_or_404(ApiToken, pk=token_id, user=user)
    services.api_token_revoke(token=token)
    return Status(204, None)


@router.get("/users", response=list[UserOut])
@paginate(LimitOffset)
def user_list(request, role: Role | None = None, search: str | None = None):
    api_require(request, Perm.USERS_MANAGE)
    return selectors.user_list(role=role, search=search)


@router.post("/users", response={201: UserOut}, summary="Create a staff user")
def user_create(request, payload: StaffUserIn):
    api_require(request, Perm.USERS_MANAGE)
    user = services.staff_user_create(
        email=payload.email,
        password=payload.password,
        role=payload.role,
        display_name=payload.display_name,
    )
    return Status(201, user)


@router.patch("/users/{user_id}", response=UserOut)
def user_update(request, user_id: int, payload: UserPatch):
    actor = api_require(request, Perm.USERS_MANAGE)
    user = get_object_or_404(User, pk=user_id)
    if payload.role is not None:
        services.user_role_set(user=user, role=payload.role, actor=actor)
    if payload.is_active is not None:
        services.user_active_set(user=user, is_active=payload.is_active, actor=actor)
    return user
