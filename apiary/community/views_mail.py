"""Pages for community e-mail: the notification settings and the one-click unsubscribe."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from apiary.community import mail
from apiary.community.services import mail as mail_services
from apiary.community.views import safe_next, show_errors


@login_required
@require_http_methods(["GET", "POST"])
def notification_settings_view(request: HttpRequest) -> HttpResponse:
    """GET: the settings page. POST (from here or the profile page's section): save."""
    here = reverse("community:notification_settings")
    if request.method == "POST":
        on = set(request.POST.getlist("kinds_on"))
        try:
            mail_services.notification_settings_set(
                user=request.user,
                email_mode=request.POST.get("email_mode", ""),
                kinds_off=[k for k in mail_services.mailable_kinds() if k not in on],
            )
        except ValidationError as exc:
            show_errors(request, exc)
        else:
            messages.success(request, _("Notification settings saved."))
        return redirect(safe_next(request, here) + "#notification-settings")
    return render(
        request,
        "community/email/settings.html",
        {"mail_settings": mail.settings_view(request.user), "next": here, "section": "community"},
    )


# The token is the credential (signed, made for one account), so no log-in and no CSRF token:
# mail clients send RFC 8058 one-click POSTs without cookies. A GET only shows the button,
# because link scanners and mail previews open every link in a message.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe_view(request: HttpRequest, token: str) -> HttpResponse:
    user = mail.unsubscribe_user(token)
    if user is None:
        return render(request, "community/email/unsubscribe.html", {"invalid": True}, status=400)
    if request.method == "POST":
        one_click = request.POST.get("List-Unsubscribe") == "One-Click"
        mail_services.notification_unsubscribe(user=user, via="one_click" if one_click else "link")
        return render(request, "community/email/unsubscribe.html", {"done": True})
    return render(request, "community/email/unsubscribe.html", {})
