"""Web pages for accounts: login, registration, logout, profile and API tokens.

Views only translate HTTP into service calls; the rules live in services.py and access.py.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from apiary.accounts import selectors, services
from apiary.accounts.access import Perm, permission_required
from apiary.accounts.forms import LoginForm, RegisterForm, TokenForm
from apiary.accounts.models import ApiToken

# Log-ins and log-outs go into the activity log from here, where they happen, rather than from
# Django's user_logged_in signal: no signals (ARCHITECTURE.md), and force_login in tests or an
# admin log-in are not visitor log-ins.
from apiary.community.middleware import login_record as visit_login_record
from apiary.community.middleware import logout_record as visit_logout_record


def _next_url(request: HttpRequest) -> str:
    nxt = request.POST.get("next") or request.GET.get("next") or ""
    if nxt and url_has_allowed_host_and_scheme(nxt, {request.get_host()}, request.is_secure()):
        return nxt
    return ""


def _copy_errors(form, exc: ValidationError) -> None:
    for field, msgs in exc.message_dict.items():
        target = field if field in form.fields else None
        if field == "password" and "password1" in form.fields:
            target = "password1"
        for msg in msgs:
            form.add_error(target, msg)


def login_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect(_next_url(request) or "web:dashboard")
    form = LoginForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            user = services.user_authenticate(
                request=request,
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
            )
        except services.LoginThrottled:
            user = None
            status = 429
            form.add_error(None, _("Too many failed attempts. Wait a few minutes and try again."))
        else:
            if user is None:
                status = 400
                form.add_error(None, _("The e-mail or password is not correct."))
        if user is not None:
            login(request, user)
            visit_login_record(request, user, method="password")
            return redirect(_next_url(request) or "web:dashboard")
    elif request.method == "POST":
        status = 400
    return render(
        request, "accounts/login.html", {"form": form, "next": _next_url(request)}, status=status
    )


def register_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("web:dashboard")
    form = RegisterForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                user = services.member_register(
                    email=form.cleaned_data["email"],
                    password=form.cleaned_data["password1"],
                    display_name=form.cleaned_data["display_name"],
                    language=get_language() or "",
                )
            except ValidationError as exc:
                _copy_errors(form, exc)
            else:
                login(request, user)
                visit_login_record(request, user, method="register")
                messages.success(
                    request, _("Welcome to the community, %(name)s!") % {"name": user.name}
                )
                return redirect("web:dashboard")
        status = 400
    return render(request, "accounts/register.html", {"form": form}, status=status)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    visit_logout_record(request)  # before logout(): the event needs the user
    logout(request)
    messages.info(request, _("You have been logged out."))
    return redirect("accounts:login")


@login_required
def profile_view(request: HttpRequest) -> HttpResponse:
    return profile_render(request)


def profile_render(request: HttpRequest, *, social_form=None, status: int = 200) -> HttpResponse:
    """The profile page; the customers touchpoint re-renders it with its form's errors."""
    context = {
        "tokens": selectors.api_token_list(user=request.user),
        "token_form": TokenForm(),
        "new_token": request.session.pop("new_api_token", None),
    }
    if not request.user.is_staff_member:
        # Members link their own social accounts here (the community-profile touchpoint).
        from apiary.customers.views_connect import member_social_context

        context.update(member_social_context(request.user, form=social_form))
        context["show_social"] = True
    # The community's "Notifications" section (e-mail mode and kinds; community/mail.py).
    from apiary.community.mail import settings_view

    context["mail_settings"] = settings_view(request.user)
    context["next"] = request.path
    return render(request, "accounts/profile.html", context, status=status)


@permission_required(Perm.API_TOKENS)
@require_POST
def token_create_view(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST)
    if form.is_valid():
        try:
            _token, raw = services.api_token_create(
                user=request.user, name=form.cleaned_data["name"]
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            # Shown once on the next page, then gone: only the digest is stored.
            request.session["new_api_token"] = raw
            messages.success(request, _("Token created. Copy it now: it will not be shown again."))
    else:
        messages.error(request, _("Give the token a name."))
    return redirect("accounts:profile")


@permission_required(Perm.API_TOKENS)
@require_POST
def token_revoke_view(request: HttpRequest, token_id: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=token_id, user=request.user)
    services.api_token_revoke(token=token)
    messages.success(request, _("Token revoked."))
    return redirect("accounts:profile")


@require_POST
def language_view(request: HttpRequest) -> HttpResponse:
    """Switch language: remembered in a cookie, and on the profile when logged in."""
    from django.conf import settings
    from django.views.i18n import set_language

    code = request.POST.get("language", "")
    response = set_language(request)
    if code in dict(settings.LANGUAGES) and request.user.is_authenticated:
        services.user_preferences_set(user=request.user, language=code)
    return response
