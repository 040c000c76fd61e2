"""Canned responses: saved replies with variables, one row per language of each answer.

Variables (``{name}`` in the body; ``{{`` and ``}}`` are literal braces):

- ``{customer_name}`` — the linked customer's name, else the author's display name;
- ``{first_name}`` — the first word of that name;
- ``{order_number}`` — the external id of the customer's latest order (merged records included);
- ``{agent_name}`` — the replying agent's display name (else the part of the e-mail before @);
- ``{brand}`` — the workspace name.

An unknown variable (``{customer}``), a format spec (``{brand:>10}``) or a stray brace is a
validation error when the response is saved — never a blank in a customer's reply. A known
variable without a value (an unlinked author with no display name, a customer without orders)
is left out together with the space or comma that joined it, so "Hi {first_name}, thanks!"
renders as "Hi, thanks!" rather than "Hi , thanks!"; write bodies so that still reads well.

``canned_for(language=…)`` gives one response per key: the row in that language, else the
English one (else any), so a partly translated set still offers every answer.
``canned_ensure_defaults()`` seeds six standard answers in English, Russian and Spanish (only
the rows that are missing: a manager's edits are kept).
"""

from __future__ import annotations

import re
import string

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_slug
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from apiary.accounts.access import Perm, user_has_permission

from .models import CannedResponse

VARIABLES = ("customer_name", "first_name", "order_number", "agent_name", "brand")
MAX_BODY = 5000
FALLBACK_LANGUAGE = "en"
_LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})?$")
_EMPTY = "\x00"  # marks a variable without a value until the clean-up below removes it


# --- validation ----------------------------------------------------------------------------


def canned_body_validate(body: str) -> str:
    if not isinstance(body, str) or not body.strip():
        raise ValidationError({"body": [_("The text is required.")]})
    body = body.strip()
    if len(body) > MAX_BODY:
        raise ValidationError({"body": [_("At most %(max)d characters.") % {"max": MAX_BODY}]})
    allowed = ", ".join("{%s}" % v for v in VARIABLES)
    try:
        parts = list(string.Formatter().parse(body))
    except ValueError:
        raise ValidationError(
            {
                "body": [
                    _(
                        "A brace is not closed. Variables look like {first_name}; write {{ or }} "
                        "for a literal brace. Variables: %(allowed)s."
                    )
                    % {"allowed": allowed}
                ]
            }
        ) from None
    for _literal, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in VARIABLES:
            raise ValidationError(
                {
                    "body": [
                        _("Unknown variable {%(name)s}. Variables: %(allowed)s.")
                        % {"name": name, "allowed": allowed}
                    ]
                }
            )
        if spec or conversion:
            raise ValidationError(
                {"body": [_("Write variables plainly, e.g. {%(name)s}.") % {"name": name}]}
            )
    return body


def _language_clean(language: str) -> str:
    language = (language or "").strip().lower().replace("_", "-")
    if not _LANGUAGE_RE.match(language):
        raise ValidationError({"language": [_("A language code such as en, ru or es.")]})
    return language


def _title_clean(title: str) -> str:
    title = (title or "").strip()
    if not title:
        raise ValidationError({"title": [_("A title is required.")]})
    if len(title) > 120:
        raise ValidationError({"title": [_("At most 120 characters.")]})
    return title


def _require_manager(user) -> None:
    if not user_has_permission(user, Perm.CARE_MANAGE):
        raise PermissionDenied(_("Only care managers can change canned responses."))


# --- writes --------------------------------------------------------------------------------


def canned_create(*, key: str, language: str, title: str, body: str, user) -> CannedResponse:
    _require_manager(user)
    key = (key or "").strip().lower()
    try:
        validate_slug(key)
    except ValidationError:
        raise ValidationError(
            {"key": [_("Letters, digits, hyphens and underscores only, e.g. order-status.")]}
        ) from None
    if len(key) > 80:
        raise ValidationError({"key": [_("At most 80 characters.")]})
    language = _language_clean(language)
    response = CannedResponse(
        key=key,
        language=language,
        title=_title_clean(title),
        body=canned_body_validate(body),
        created_by=user,
    )
    try:
        with transaction.atomic():
            response.save()
    except IntegrityError:
        raise ValidationError(
            {
                "key": [
                    _("There is already a %(language)s version of %(key)s.")
                    % {"language": language, "key": key}
                ]
            }
        ) from None
    return response


def canned_update(
    *, response_id: int, user, title: str | None = None, body: str | None = None
) -> CannedResponse:
    _require_manager(user)
    response = CannedResponse.objects.filter(pk=response_id).first()
    if response is None:
        raise CannedResponse.DoesNotExist(_("No such canned response."))
    if title is not None:
        response.title = _title_clean(title)
    if body is not None:
        response.body = canned_body_validate(body)
    response.save()
    return response


def canned_delete(*, response_id: int, user) -> None:
    _require_manager(user)
    deleted, _rows = CannedResponse.objects.filter(pk=response_id).delete()
    if not deleted:
        raise CannedResponse.DoesNotExist(_("No such canned response."))


# --- reads ---------------------------------------------------------------------------------


def canned_for(*, language: str | None) -> list[CannedResponse]:
    """One response per key, in ``language`` when it exists, else English, else any."""
    wanted = (language or "").strip().lower().replace("_", "-")
    base = wanted.split("-", 1)[0]
    order = [lang for lang in (wanted, base, FALLBACK_LANGUAGE) if lang]
    chosen: dict[str, CannedResponse] = {}
    rank: dict[str, int] = {}
    for response in CannedResponse.objects.order_by("key", "language"):
        r = order.index(response.language) if response.language in order else len(order)
        if response.key not in chosen or r < rank[response.key]:
            chosen[response.key] = response
            rank[response.key] = r
    return sorted(chosen.values(), key=lambda c: (c.title.casefold(), c.key))


# --- rendering -----------------------------------------------------------------------------


def _agent_name(agent) -> str:
    if agent is None:
        return ""
    name = (getattr(agent, "display_name", "") or "").strip()
    if name:
        return name
    email = getattr(agent, "email", "") or ""
    return email.split("@", 1)[0]


def _values(conversation, agent) -> dict[str, str]:
    from apiary.accounts.selectors import workspace_get
    from apiary.customers.models import Order
    from apiary.customers.selectors import customer_family_ids

    customer = conversation.customer if conversation is not None else None
    if customer is not None and (customer.erased_at is not None or customer.deleted_at):
        customer = None
    name = (customer.name if customer is not None else "").strip()
    if not name and conversation is not None:
        name = (conversation.author_name or "").strip()
    order_number = ""
    if customer is not None:
        latest = (
            Order.objects.filter(customer_id__in=customer_family_ids(customer=customer))
            .order_by("-ordered_at", "-pk")
            .values_list("external_id", flat=True)
            .first()
        )
        order_number = latest or ""
    workspace = workspace_get()
    return {
        "customer_name": name,
        "first_name": name.split()[0] if name else "",
        "order_number": order_number,
        "agent_name": _agent_name(agent),
        "brand": workspace.name.strip() if workspace is not None else "",
    }


# A value-less variable goes with the space and comma that tied it to its sentence:
# "Hi \0, thanks" → "Hi, thanks"; "Здравствуйте, \0!" → "Здравствуйте!"; "order \0." → "order."
_EMPTY_BEFORE_PUNCT = re.compile(r"[ \t]*,?[ \t]*\x00(?=[ \t]*[,.!?;:¡¿)])")
_EMPTY_AT_END = re.compile(r"[ \t]*,?[ \t]*\x00(?=[ \t]*$)", re.MULTILINE)
_EMPTY_ANY = re.compile(r"[ \t]?\x00")


def canned_render(*, response: CannedResponse, conversation, agent) -> str:
    values = {k: (v or _EMPTY) for k, v in _values(conversation, agent).items()}
    text = canned_body_validate(response.body).format_map(values)
    text = _EMPTY_BEFORE_PUNCT.sub("", text)
    text = _EMPTY_AT_END.sub("", text)
    text = _EMPTY_ANY.sub("", text)
    text = re.sub(r"(?m)^[ \t]*[,;:][ \t]*", "", text)  # a line that now starts with ", "
    text = re.sub(r"[ \t]{2,}", " ", text)
    return text.strip()


# --- defaults ------------------------------------------------------------------------------

DEFAULTS: dict[str, dict[str, tuple[str, str]]] = {
    "thanks-for-reaching-out": {
        "en": (
            "Thanks for reaching out",
            "Hi {first_name}, thanks for reaching out! I'm {agent_name} from the {brand} team "
            "and I'm looking into this for you now.",
        ),
        "ru": (
            "Спасибо за обращение",
            "Здравствуйте, {first_name}! Спасибо, что написали. Меня зовут {agent_name}, я из "
            "команды {brand} — уже разбираюсь с вашим вопросом.",
        ),
        "es": (
            "Gracias por escribirnos",
            "Hola {first_name}, ¡gracias por escribirnos! Soy {agent_name}, del equipo de "
            "{brand}, y ya estoy revisando tu caso.",
        ),
    },
    "order-status": {
        "en": (
            "Order status",
            "Hi {first_name}, I've checked your order {order_number}: it's on its way and you'll "
            "get the tracking link by e-mail. Anything else I can help with?",
        ),
        "ru": (
            "Статус заказа",
            "Здравствуйте, {first_name}! Я проверил(а) ваш заказ {order_number}: он уже в пути, "
            "ссылку для отслеживания пришлём по почте. Чем-нибудь ещё помочь?",
        ),
        "es": (
            "Estado del pedido",
            "Hola {first_name}, he revisado tu pedido {order_number}: ya está en camino y te "
            "enviaremos el enlace de seguimiento por correo. ¿Te ayudo con algo más?",
        ),
    },
    "sorry-for-the-trouble": {
        "en": (
            "Sorry for the trouble",
            "Hi {first_name}, I'm sorry this happened — that's not the experience we want for "
            "you. I'm on it and will get back to you here shortly. — {agent_name}, {brand}",
        ),
        "ru": (
            "Извините за неудобства",
            "Здравствуйте, {first_name}! Нам очень жаль, что так вышло. Я уже занимаюсь этим и "
            "скоро вернусь с ответом здесь. — {agent_name}, {brand}",
        ),
        "es": (
            "Sentimos las molestias",
            "Hola {first_name}, sentimos mucho lo ocurrido. Ya me estoy ocupando y te respondo "
            "aquí en breve. — {agent_name}, {brand}",
        ),
    },
    "move-to-private": {
        "en": (
            "Ask for details privately",
            "Hi {first_name}, so we can look up your account safely, please send us a direct "
            "message with your order number and e-mail. Please don't post them publicly.",
        ),
        "ru": (
            "Попросить данные в личных сообщениях",
            "Здравствуйте, {first_name}! Чтобы мы могли безопасно найти ваш заказ, напишите нам "
            "в личные сообщения номер заказа и e-mail. Пожалуйста, не публикуйте их открыто.",
        ),
        "es": (
            "Pedir datos por privado",
            "Hola {first_name}, para buscar tu cuenta de forma segura, envíanos un mensaje "
            "privado con tu número de pedido y tu correo. Por favor, no los publiques.",
        ),
    },
    "thanks-for-feedback": {
        "en": (
            "Thanks for the kind words",
            "Thank you so much, {first_name}! We've shared your message with the whole {brand} "
            "team — it made our day.",
        ),
        "ru": (
            "Спасибо за отзыв",
            "Большое спасибо, {first_name}! Мы передали ваши слова всей команде {brand} — это "
            "очень приятно.",
        ),
        "es": (
            "Gracias por tus palabras",
            "¡Muchísimas gracias, {first_name}! Hemos compartido tu mensaje con todo el equipo "
            "de {brand}; nos has alegrado el día.",
        ),
    },
    "resolved-follow-up": {
        "en": (
            "Issue resolved",
            "Hi {first_name}, this should now be sorted. If anything still isn't right, just "
            "reply here and we'll pick it up again. Thanks for your patience! — {brand}",
        ),
        "ru": (
            "Вопрос решён",
            "Здравствуйте, {first_name}! Вопрос должен быть решён. Если что-то всё ещё не так, "
            "просто ответьте здесь — мы продолжим. Спасибо за терпение! — {brand}",
        ),
        "es": (
            "Incidencia resuelta",
            "Hola {first_name}, esto ya debería estar solucionado. Si algo sigue sin funcionar, "
            "responde aquí y lo retomamos. ¡Gracias por tu paciencia! — {brand}",
        ),
    },
}


def canned_ensure_defaults() -> int:
    """Create the standard answers that are missing; returns how many rows were made."""
    existing = set(CannedResponse.objects.values_list("key", "language"))
    rows = [
        CannedResponse(key=key, language=lang, title=title, body=canned_body_validate(body))
        for key, versions in DEFAULTS.items()
        for lang, (title, body) in versions.items()
        if (key, lang) not in existing
    ]
    CannedResponse.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)
