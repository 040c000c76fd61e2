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
