"""Shell pages: dashboard, staff users, health probes and error pages."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from apiary.accounts import selectors as account_selectors
from apiary.accounts import services as account_services
from apiary.accounts.access import Perm, permission_required
from apiary.accounts.models import STAFF_ROLES, Role


def home(request: HttpRequest) -> HttpResponse:
    return redirect("web:dashboard" if request.user.is_authenticated else "accounts:login")


@permission_required(Perm.DASHBOARD_VIEW)
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "web/dashboard.html",
        {"workspace": account_selectors.workspace_get(), "section": "dashboard"},
    )


@permission_required(Perm.USERS_MANAGE)
def users(request: HttpRequest) -> HttpResponse:
    status = 200
    form_data = {}
    if request.method == "POST":
        form_data = request.POST
        try:
            user = account_services.staff_user_create(
                email=request.POST.get("email", ""),
                password=request.POST.get("password", ""),
                role=request.POST.get("role", ""),
                display_name=request.POST.get("display_name", ""),
            )
        except ValidationError as exc:
            status = 400
            for msgs in exc.message_dict.values():
                for msg in msgs:
                    messages.error(request, msg)
        else:
            messages.success(request, _("%(email)s can now log in.") % {"email": user.email})
            return redirect("web:users")
    return render(
        request,
        "web/users.html",
        {
            "users": account_selectors.user_list().exclude(role=Role.MEMBER),
            "member_count": account_selectors.user_list(role=Role.MEMBER).count(),
            "roles": [(r.value, r.label) for r in Role if r in STAFF_ROLES],
            "form_data": form_data,
            "section": "users",
        },
        status=status,
    )


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Touches nothing else on purpose."""
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: every configured database answers a trivial query."""
    checks = {}
    ok = True
    for alias in connections:
        try:
            with connections[alias].cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
            checks[f"database:{alias}"] = "ok"
        except DatabaseError as exc:
            ok = False
            checks[f"database:{alias}"] = f"error: {exc.__class__.__name__}"
    return JsonResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503
    )


def error_403(request: HttpRequest, exception=None) -> HttpResponse:
    return render(request, "403.html", status=403)


def error_404(request: HttpRequest, exception=None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": _("Not found."), "code": "not_found"}, status=404)
    return render(request, "404.html", status=404)


def error_500(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"detail": _("Internal error; it has been logged."), "code": "server_error"},
            status=500,
        )
    return render(request, "500.html", status=500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse(
            {
                "detail": _("CSRF check failed; reload the page and try again."),
                "code": "csrf_failed",
            },
            status=403,
        )
    return render(
        request,
        "web/error.html",
        {"title": _("Your session form has expired. Reload the page and try again.")},
        status=403,
    )
