import zoneinfo

from django.utils import timezone, translation


class UserPreferencesMiddleware:
    """Apply a logged-in user's saved language and time zone (after LocaleMiddleware, which
    handles the cookie and Accept-Language for everyone else)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            if user.language and not request.COOKIES.get("django_language"):
                translation.activate(user.language)
                request.LANGUAGE_CODE = user.language
            if user.time_zone:
                try:
                    timezone.activate(zoneinfo.ZoneInfo(user.time_zone))
                except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                    timezone.deactivate()
        response = self.get_response(request)
        timezone.deactivate()
        return response
