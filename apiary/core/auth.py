"""API authentication: personal bearer tokens, or the browser session (with CSRF)."""

from __future__ import annotations

from django.http import HttpRequest
from ninja.security import APIKeyCookie, HttpBearer

from apiary.accounts import services as account_services


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str):
        user = account_services.api_token_authenticate(raw=token)
        if user is not None:
            request.user = user
        return user


class SessionAuth(APIKeyCookie):
    """Session cookie auth; unsafe methods need the CSRF token like any web form."""

    param_name = "sessionid"

    def __init__(self) -> None:
        super().__init__(csrf=True)

    def authenticate(self, request: HttpRequest, key: str | None):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_active:
            return user
        return None


API_AUTH = [TokenAuth(), SessionAuth()]
