"""Touchpoints where customers give us their social accounts themselves, with consent:

- ``/connect/``: a public page (no log-in) a shop links from checkout, sign-up or e-mails; with
  ``?embed=1`` a minimal variant that may live in another site's iframe;
- the member's own community profile ("My social accounts").

Both store the exact consent text the person saw in every ConsentRecord.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apiary.accounts.services import client_ip
from apiary.core.ratelimit import rate_limit_hit
from apiary.customers.forms import (
    MAX_CONNECT_ROWS,
    PUBLIC_TOUCHPOINTS,
    ConnectForm,
    MemberIdentityForm,
    company_name,
    consent_text,
)
from apiary.customers.models import SocialIdentity, Touchpoint

RATE_LIMIT = 10  # submissions per client address and hour
RATE_WINDOW_SECONDS = 3600
EMBED_TOKEN_MAX_AGE = 6 * 3600
_EMBED_SALT = "apiary.customers.connect.embed"


def _activate_requested_language(request: HttpRequest) -> None:
    # A shop links /connect/?lang=es from a Spanish checkout; otherwise Accept-Language decides.
    lang = request.GET.get("lang", "")
    if lang in dict(settings.LANGUAGES):
        translation.activate(lang)
        request.LANGUAGE_CODE = lang


def _page(request: HttpRequest, template: str, context: dict, *, status: int = 200):
    embed = request.GET.get("embed") == "1"
    query = request.GET.copy()
    query.pop("lang", None)
    context = {
        "layout": "customers/connect_embed_base.html" if embed else "base.html",
        "embed": embed,
        "company": company_name(),
        "lang_query": (query.urlencode() + "&") if query else "",
        "max_rows": MAX_CONNECT_ROWS,
        **context,
    }
    response = render(request, template, context, status=status)
    if embed:
        # Only the embed variant may be framed; every other page keeps X-Frame-Options DENY.
        response.xframe_options_exempt = True
    return response


def _message(request: HttpRequest, title: str, message: str, status: int) -> HttpResponse:
    return _page(
        request,
        "customers/connect_message.html",
        {"title": title, "message": message},
        status=status,
    )


def embed_token() -> str:
    return signing.TimestampSigner(salt=_EMBED_SALT).sign("connect")


def _embed_request_trusted(request: HttpRequest) -> bool:
    """CSRF check for the iframe variant. Browsers do not send our cookies to a third-party
    iframe, so Django's cookie-based check cannot work there; instead the form carries a signed,
    time-limited token, and a cross-site POST is refused by its Origin header."""
    try:
        signing.TimestampSigner(salt=_EMBED_SALT).unsign(
            request.POST.get("embed_token", ""), max_age=EMBED_TOKEN_MAX_AGE
        )
    except signing.BadSignature:
        return False
    origin = request.META.get("HTTP_ORIGIN")
    if origin and origin != "null":
        return urlsplit(origin).netloc == request.get_host()
    return True


@csrf_exempt  # checked inside: Django's CSRF for the page, a signed token for the embed variant
@never_cache  # each page carries its own CSRF/embed token
@require_http_methods(["GET", "POST"])
def connect_view(request: HttpRequest) -> HttpResponse:
    _activate_requested_language(request)
    embed = request.GET.get("embed") == "1"
    touchpoint = request.GET.get("touchpoint") or Touchpoint.SIGNUP
    if touchpoint not in PUBLIC_TOUCHPOINTS:
        return _message(
            request,
            _("This link is not right"),
            _("Unknown touchpoint %(value)s: use signup, checkout or support_form.")
            % {"value": touchpoint[:40]},
            400,
        )
    if request.method == "POST":
        if embed:
            if not _embed_request_trusted(request):
                return _message(
                    request,
                    _("This form has expired"),
                    _("Reload the page and send the form again."),
                    403,
                )
            return _connect_post(request, touchpoint)
        return csrf_protect(_connect_post)(request, touchpoint)
    return _connect_page(request, ConnectForm())


def _connect_page(request: HttpRequest, form: ConnectForm, *, status: int = 200) -> HttpResponse:
    context = {
        "form": form,
        "consent_text": consent_text(),
        "action": request.get_full_path(),
        "embed_token": embed_token(),
    }
    return _page(request, "customers/connect.html", context, status=status)


class _Rollback(Exception):
    """A row failed while saving: undo the customer and every row saved before it."""


def _connect_post(request: HttpRequest, touchpoint: str) -> HttpResponse:
    if rate_limit_hit(
        bucket="connect",
        key=client_ip(request) or "unknown",
        limit=RATE_LIMIT,
        window_seconds=RATE_WINDOW_SECONDS,
    ):
        return _message(
            request,
            _("Too many attempts"),
            _("This form was sent too many times from your network. Try again in an hour."),
            429,
        )
    form = ConnectForm(request.POST)
    if not form.is_valid():
        return _connect_page(request, form, status=400)
    text = consent_text()
    try:
        identities = _connect_save(form, touchpoint=touchpoint, text=text)
    except _Rollback:
        return _connect_page(request, form, status=400)
    # Only what the visitor typed: the stored record's name must not leak to whoever knows
    # an e-mail address.
    context = {"identities": identities, "name": form.cleaned_data["name"]}
    return _page(request, "customers/connect_done.html", context)


def _connect_save(form: ConnectForm, *, touchpoint: str, text: str):
    """All rows or none: a visitor who sees an error expects nothing to have been saved."""
    from apiary.customers.services.customers import customer_upsert_by_email
    from apiary.customers.services.identities import identity_link

    data = form.cleaned_data
    identities = []
    with transaction.atomic():
        try:
            customer, _created = customer_upsert_by_email(
                email=data["email"],
                name=data["name"],
                language=(translation.get_language() or "")[:8],
            )
        except ValidationError as exc:
            form.add_error("email", exc.messages)
            raise _Rollback from exc
        failed = False
        for index, platform, handle in form.valid_rows:
            try:
                # A savepoint per row, so one refused row leaves the transaction usable
                # (PostgreSQL aborts it otherwise) and every row's error can be shown.
                with transaction.atomic():
                    identities.append(
                        identity_link(
                            customer=customer,
                            platform=platform,
                            handle=handle,
                            touchpoint=touchpoint,
                            consent_text=text,
                        )
                    )
            except ValidationError as exc:
                for message in exc.messages:
                    form.row_error(index, message)
                failed = True
        if failed:
            raise _Rollback
    return identities


@require_GET
def connect_row_view(request: HttpRequest) -> HttpResponse:
    """htmx: one more account row, followed by the "add another" button while rows remain."""
    _activate_requested_language(request)
    try:
        index = int(request.GET.get("i", ""))
    except ValueError:
        index = -1
    if not 0 <= index < MAX_CONNECT_ROWS:
        return HttpResponse(status=400)
    form = ConnectForm(row_count=index + 1)
    row = form.rows()[index]
    context = {"row": row, "next": index + 1, "show_more": index + 1 < MAX_CONNECT_ROWS}
    return render(request, "customers/_connect_row_more.html", context)


# --- The member's community profile -----------------------------------------------------------


def member_social_context(user, *, form: MemberIdentityForm | None = None) -> dict:
    """What the profile page shows in "My social accounts"."""
    from apiary.customers.selectors import customer_identities
    from apiary.customers.services.members import member_customer_get

    customer = member_customer_get(user=user)
    identities = customer_identities(customer=customer, include_withdrawn=False) if customer else []
    return {
        "social_identities": identities,
        "social_form": form or MemberIdentityForm(),
        "social_consent_text": consent_text(),
    }


def _require_member(request: HttpRequest) -> None:
    # Staff accounts are not customers; linking them would put staff into the CRM.
    if request.user.is_staff_member:
        raise PermissionDenied


@login_required
@require_POST
def my_identity_add_view(request: HttpRequest) -> HttpResponse:
    from apiary.accounts.views import profile_render
    from apiary.customers.services.identities import identity_link
    from apiary.customers.services.members import member_customer_ensure

    _require_member(request)
    user = request.user
    form = MemberIdentityForm(request.POST)
    if form.is_valid():
        try:
            with transaction.atomic():
                customer = member_customer_ensure(user=user)
                identity_link(
                    customer=customer,
                    platform=form.cleaned_data["platform"],
                    handle=form.cleaned_data["handle"],
                    touchpoint=Touchpoint.COMMUNITY_PROFILE,
                    consent_text=consent_text(),
                    actor=user,
                )
        except ValidationError as exc:
            errors = exc.message_dict if hasattr(exc, "error_dict") else {None: exc.messages}
            for field, msgs in errors.items():
                form.add_error(field if field in form.fields else None, msgs)
        else:
            messages.success(request, _("Your account is linked. Thank you!"))
            return redirect("accounts:profile")
    return profile_render(request, social_form=form, status=400)


@login_required
@require_POST
def my_identity_withdraw_view(request: HttpRequest, identity_id: int) -> HttpResponse:
    from apiary.customers.services.identities import identity_consent_withdraw

    _require_member(request)
    identity = get_object_or_404(
        SocialIdentity, pk=identity_id, customer__user=request.user, withdrawn_at__isnull=True
    )
    identity_consent_withdraw(
        identity=identity, touchpoint=Touchpoint.COMMUNITY_PROFILE, actor=request.user
    )
    messages.success(request, _("Consent withdrawn: we no longer link this account to you."))
    return redirect("accounts:profile")
