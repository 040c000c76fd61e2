"""The one error shape of the API: ``{"detail": "...", "code": "..."}`` with a 4xx status.

Messages are translated with gettext, so a client sending ``Accept-Language: ru`` reads Russian.
"""

from __future__ import annotations

import json
import logging

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """Raised by API handlers (and services that know their HTTP meaning) for a 4xx answer."""

    def __init__(self, status: int, code: str, detail: str, **extra) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.extra = extra


def error_body(detail: str, code: str, **extra) -> dict:
    return {"detail": detail, "code": code, **extra}


def json_error(status: int, code: str, detail: str, **extra) -> JsonResponse:
    return JsonResponse(error_body(detail, code, **extra), status=status)


# pydantic error types -> a translated, human sentence. Unknown types keep pydantic's English.
def _pydantic_message(err: dict) -> str:
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    messages = {
        "missing": _("This field is required."),
        "extra_forbidden": _("This field is not allowed."),
        "string_type": _("Must be a string."),
        "int_parsing": _("Must be a whole number."),
        "int_type": _("Must be a whole number."),
        "float_parsing": _("Must be a number."),
        "bool_parsing": _("Must be true or false."),
        "datetime_parsing": _("Must be a date and time (ISO 8601)."),
        "datetime_from_date_parsing": _("Must be a date and time (ISO 8601)."),
        "date_from_datetime_parsing": _("Must be a date (YYYY-MM-DD)."),
        "list_type": _("Must be a list."),
        "dict_type": _("Must be an object."),
        "model_attributes_type": _("Must be an object."),
        "enum": _("Must be one of: %(expected)s.") % {"expected": ctx.get("expected", "")},
        "literal_error": _("Must be one of: %(expected)s.") % {"expected": ctx.get("expected", "")},
        "string_too_short": _("Must be at least %(n)s characters long.")
        % {"n": ctx.get("min_length", "")},
        "string_too_long": _("Must be at most %(n)s characters long.")
        % {"n": ctx.get("max_length", "")},
        "greater_than_equal": _("Must be at least %(n)s.") % {"n": ctx.get("ge", "")},
        "less_than_equal": _("Must be at most %(n)s.") % {"n": ctx.get("le", "")},
        "value_error": str(ctx.get("error", err.get("msg", ""))),
    }
    return messages.get(kind, err.get("msg", _("Invalid value.")))


def _field_name(loc) -> str:
    # Drop ninja's own wrappers ("body", "payload", "query") so the path reads like the JSON.
    parts = [str(p) for p in loc if p not in ("body", "payload", "query", "path", "form")]
    return ".".join(parts) or "body"


def validation_errors(raw: list[dict]) -> list[dict]:
    return [
        {"field": _field_name(e.get("loc", ())), "message": _pydantic_message(e), "type": e["type"]}
        for e in raw
    ]


def install_handlers(api: NinjaAPI) -> None:
    """Route every exception an API view can raise to the one error shape."""

    def respond(request, status, code, detail, **extra) -> HttpResponse:
        return api.create_response(request, error_body(detail, code, **extra), status=status)

    @api.exception_handler(ApiError)
    def _api_error(request: HttpRequest, exc: ApiError):
        return respond(request, exc.status, exc.code, exc.detail, **exc.extra)

    @api.exception_handler(NinjaValidationError)
    def _validation(request: HttpRequest, exc: NinjaValidationError):
        errors = validation_errors(exc.errors)
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return respond(request, 422, "validation_error", detail, errors=errors)

    @api.exception_handler(DjangoValidationError)
    def _domain_validation(request: HttpRequest, exc: DjangoValidationError):
        if hasattr(exc, "error_dict"):
            errors = [
                {"field": field, "message": str(m), "type": "invalid"}
                for field, msgs in exc.message_dict.items()
                for m in msgs
            ]
        else:
            errors = [{"field": "body", "message": str(m), "type": "invalid"} for m in exc.messages]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return respond(request, 422, "validation_error", detail, errors=errors)

    @api.exception_handler(AuthenticationError)
    def _unauthenticated(request: HttpRequest, exc: AuthenticationError):
        return respond(
            request,
            401,
            "not_authenticated",
            _("Authentication required: send 'Authorization: Bearer <token>' or log in."),
        )

    @api.exception_handler(HttpError)
    def _http_error(request: HttpRequest, exc: HttpError):
        cause = exc.__cause__
        if isinstance(cause, RequestDataTooBig):
            return respond(request, 413, "body_too_large", _("The request body is too large."))
        if exc.status_code == 400 and cause is not None:
            reason = str(cause) if isinstance(cause, json.JSONDecodeError) else ""
            detail = _("The request body is not valid JSON.")
            if reason:
                detail = f"{detail} ({reason})"
            return respond(request, 400, "malformed_body", detail)
        if exc.status_code == 403 and "CSRF" in str(exc):
            return respond(
                request,
                403,
                "csrf_failed",
                _("CSRF check failed: send the X-CSRFToken header with session authentication."),
            )
        codes = {401: "not_authenticated", 403: "permission_denied", 404: "not_found"}
        code = codes.get(exc.status_code, "http_error" if exc.status_code < 500 else "error")
        return respond(request, exc.status_code, code, str(exc))

    @api.exception_handler(Http404)
    def _not_found(request: HttpRequest, exc: Http404):
        return respond(request, 404, "not_found", _("Not found."))

    @api.exception_handler(PermissionDenied)
    def _denied(request: HttpRequest, exc: PermissionDenied):
        return respond(
            request, 403, "permission_denied", _("You do not have permission to do this.")
        )

    @api.exception_handler(RequestDataTooBig)
    def _too_big(request: HttpRequest, exc: RequestDataTooBig):
        return respond(request, 413, "body_too_large", _("The request body is too large."))

    @api.exception_handler(Exception)
    def _unexpected(request: HttpRequest, exc: Exception):
        # A 500 is a bug of ours; log it with the traceback, never show it to the client.
        logger.exception("Unhandled API error on %s %s", request.method, request.path)
        return respond(request, 500, "server_error", _("Internal error; it has been logged."))
