"""Search writes: saved searches (per user), mention tags, relevance feedback."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from ..models import (
    ListeningQuery,
    Mention,
    MentionIrrelevant,
    MentionMatch,
    MentionTag,
    SavedSearch,
)
from ..search import SearchParamsError, params_validate, tag_clean

MAX_SAVED_PER_USER = 200


def _params(params) -> dict:
    try:
        return params_validate(params if params is not None else {}).as_query()
    except SearchParamsError as exc:
        errors: dict[str, list[str]] = {}
        for e in exc.errors:
            errors.setdefault(f"params.{e['field']}", []).append(e["message"])
        raise ValidationError(errors) from None


def _name(name) -> str:
    name = " ".join(str(name or "").split())
    if not name:
        raise ValidationError({"name": [_("A name is required.")]})
    if len(name) > 120:
        raise ValidationError({"name": [_("At most 120 characters.")]})
    return name


def saved_search_create(*, owner, name: str, params: dict | None) -> SavedSearch:
    """Save (or overwrite, by name) one of the user's searches; params as ``SearchParams``."""
    name = _name(name)
    clean = _params(params)
    existing = SavedSearch.objects.filter(owner=owner, name=name).first()
    if existing is not None:
        existing.params = clean
        existing.save(update_fields=["params", "updated_at"])
        return existing
    if SavedSearch.objects.filter(owner=owner).count() >= MAX_SAVED_PER_USER:
        raise ValidationError(
            {"name": [_("At most %(n)d saved searches per user.") % {"n": MAX_SAVED_PER_USER}]}
        )
    return SavedSearch.objects.create(owner=owner, name=name, params=clean)


def saved_search_delete(*, saved: SavedSearch, actor) -> None:
    if saved.owner_id != actor.pk:
        raise ValidationError({"id": [_("This saved search belongs to someone else.")]})
    saved.delete()


def mention_tag_add(*, mention: Mention, tag: str, actor=None) -> MentionTag:
    try:
        clean = tag_clean(tag)
    except ValueError as exc:
        raise ValidationError({"tag": [str(exc)]}) from None
    try:
        with transaction.atomic():
            obj, _created = MentionTag.objects.get_or_create(
                mention=mention, tag=clean, defaults={"user": actor}
            )
    except IntegrityError:  # a concurrent request added the same tag
        obj = MentionTag.objects.get(mention=mention, tag=clean)
    return obj


def mention_tag_remove(*, mention: Mention, tag: str) -> bool:
    try:
        clean = tag_clean(tag)
    except ValueError as exc:
        raise ValidationError({"tag": [str(exc)]}) from None
    deleted, _rows = MentionTag.objects.filter(mention=mention, tag=clean).delete()
    return bool(deleted)


def mention_mark_irrelevant(
    *, mention: Mention, query: ListeningQuery, actor=None
) -> MentionIrrelevant:
    """Record that ``mention`` does not belong to ``query``: it leaves that query's search
    results (the match row stays, so the feedback can be read back to improve the query)."""
    if not MentionMatch.objects.filter(mention=mention, query=query).exists():
        raise ValidationError(
            {
                "query_id": [
                    _("This mention was not matched by the query “%(name)s”.")
                    % {"name": query.name}
                ]
            }
        )
    try:
        with transaction.atomic():
            obj, _created = MentionIrrelevant.objects.get_or_create(
                mention=mention, query=query, defaults={"user": actor}
            )
    except IntegrityError:
        obj = MentionIrrelevant.objects.get(mention=mention, query=query)
    return obj


def mention_unmark_irrelevant(*, mention: Mention, query: ListeningQuery) -> bool:
    deleted, _rows = MentionIrrelevant.objects.filter(mention=mention, query=query).delete()
    return bool(deleted)
