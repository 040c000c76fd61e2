from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _


class BodySizeLimitMiddleware:
    """Reject bodies over APIARY_MAX_BODY_BYTES from the Content-Length header, before reading.

    Django's own DATA_UPLOAD_MAX_MEMORY_SIZE only fires when form data is parsed (and answers
    with a bare 400); this answers 413 in the API's JSON shape, or a page for browsers.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.APIARY_MAX_BODY_BYTES:
            detail = _("The request body is too large (limit %(limit)s bytes).") % {
                "limit": settings.APIARY_MAX_BODY_BYTES
            }
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": detail, "code": "body_too_large"}, status=413)
            return render(request, "web/error.html", {"title": detail}, status=413)
        return self.get_response(request)


class ApiErrorShapeMiddleware:
    """Guarantee the API's error shape for answers that never reach a ninja exception handler:
    405 from ninja's method dispatch, Django's 404 for unknown /api/ paths (an HTML debug page
    when DEBUG is on), CSRF failures. Any non-JSON 4xx/5xx under /api/ becomes
    ``{"detail", "code"}``; JSON answers pass through untouched."""

    CODES = {
        400: ("bad_request", "The request is not valid."),
        401: ("not_authenticated", "Authentication required."),
        403: ("permission_denied", "You do not have permission to do this."),
        404: ("not_found", "Not found."),
        405: ("method_not_allowed", "This method is not allowed here."),
        413: ("body_too_large", "The request body is too large."),
    }

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            request.path.startswith("/api/")
            and response.status_code >= 400
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            code, detail = self.CODES.get(
                response.status_code,
                ("http_error", "The request failed.")
                if response.status_code < 500
                else ("server_error", "Internal error; it has been logged."),
            )
            new = JsonResponse({"detail": _(detail), "code": code}, status=response.status_code)
            if response.has_header("Allow"):
                new["Allow"] = response["Allow"]
            return new
        return response
