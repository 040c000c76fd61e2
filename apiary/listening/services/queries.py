"""Saved brand / competitor / topic queries: validated by compiling them."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from apiary.accounts.services import audit_record

from ..models import ListeningQuery, QueryKind
from ..queries import QuerySyntaxError, compile_query


def _check(*, name: str, kind: str, text: str) -> tuple[str, str, str]:
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    text = (text or "").strip()
    if not name:
        errors["name"] = [_("A name is required.")]
    elif len(name) > 120:
        errors["name"] = [_("At most 120 characters.")]
    if kind not in QueryKind.values:
        errors["kind"] = [_("Must be brand, competitor or topic.")]
    if len(text) > 4000:
        errors["text"] = [_("At most 4,000 characters.")]
    else:
        try:
            compile_query(text)
        except QuerySyntaxError as exc:
            errors["text"] = [
                _("Invalid query: %(message)s at position %(position)d.")
                % {"message": exc.message, "position": exc.position}
            ]
    if errors:
        raise ValidationError(errors)
    return name, kind, text


def query_create(*, name: str, kind: str, text: str, actor=None) -> ListeningQuery:
    name, kind, text = _check(name=name, kind=kind, text=text)
    if ListeningQuery.objects.filter(name=name).exists():
        raise ValidationError({"name": [_("A query with this name exists.")]})
    query = ListeningQuery.objects.create(name=name, kind=kind, text=text)
    audit_record(
        actor=actor,
        action="listening.query.create",
        target_type="query",
        target_id=str(query.pk),
        summary=f"{kind} {name!r}: {text[:200]}",
    )
    return query


def query_update(
    *, query: ListeningQuery, name=None, kind=None, text=None, active=None, actor=None
) -> ListeningQuery:
    name, kind, text = _check(
        name=query.name if name is None else name,
        kind=query.kind if kind is None else kind,
        text=query.text if text is None else text,
    )
    if ListeningQuery.objects.filter(name=name).exclude(pk=query.pk).exists():
        raise ValidationError({"name": [_("A query with this name exists.")]})
    query.name, query.kind, query.text = name, kind, text
    if active is not None:
        query.active = bool(active)
    query.save()
    audit_record(
        actor=actor,
        action="listening.query.update",
        target_type="query",
        target_id=str(query.pk),
        summary=f"{kind} {name!r}: {text[:200]}",
    )
    return query


def query_delete(*, query: ListeningQuery, actor=None) -> None:
    audit_record(
        actor=actor,
        action="listening.query.delete",
        target_type="query",
        target_id=str(query.pk),
        summary=query.name,
    )
    query.delete()
