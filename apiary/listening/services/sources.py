"""Sources: create, configure, pause, resume, delete; webhook tokens; status bookkeeping."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from apiary.accounts.services import audit_record

from ..connectors import ConnectorError, connector_class
from ..models import RUNNING_KINDS, Source, SourceKind, SourceMinute, SourceStatus

TOKEN_PREFIX = "src_"  # noqa: S105 (a prefix, not a secret)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def source_config_validate(*, kind: str, config: dict[str, Any]) -> dict[str, Any]:
    if kind not in SourceKind.values:
        raise ValidationError({"kind": [_("Unknown source kind %(kind)r.") % {"kind": kind}]})
    if not isinstance(config, dict):
        raise ValidationError({"config": [_("Must be an object.")]})
    if kind in RUNNING_KINDS:
        try:
            return connector_class(kind).validate_config(config)
        except ConnectorError as exc:
            raise ValidationError({"config": [str(exc)]}) from None
    if kind == SourceKind.WEBHOOK:
        platform = config.get("default_platform")
        from ..raw import PLATFORMS

        if platform is not None and platform not in PLATFORMS:
            raise ValidationError(
                {
                    "config": [
                        _("default_platform must be one of: %s") % ", ".join(sorted(PLATFORMS))
                    ]
                }
            )
        unknown = set(config) - {"default_platform"}
        if unknown:
            raise ValidationError({"config": [_("Unknown keys: %s") % ", ".join(sorted(unknown))]})
    return dict(config)


def source_create(
    *, name: str, kind: str, config: dict[str, Any] | None = None, actor=None
) -> tuple[Source, str | None]:
    """Create a source; webhook sources get a token, returned once (only its digest is kept)."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": [_("A name is required.")]})
    if len(name) > 200:
        raise ValidationError({"name": [_("At most 200 characters.")]})
    clean = source_config_validate(kind=kind, config=config or {})
    token = None
    source = Source(name=name, kind=kind, config=clean, created_by=actor)
    if kind == SourceKind.WEBHOOK:
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        source.token_digest = _digest(token)
        source.token_prefix = token[:10]
    source.save()
    audit_record(
        actor=actor,
        action="listening.source.create",
        target_type="source",
        target_id=str(source.pk),
        summary=f"{kind} source {name!r}",
    )
    return source, token


def source_update(*, source: Source, name: str | None = None, config=None, actor=None) -> Source:
    if name is not None:
        name = name.strip()
        if not name:
            raise ValidationError({"name": [_("A name is required.")]})
        source.name = name[:200]
    if config is not None:
        clean = source_config_validate(kind=source.kind, config=config)
        # Reply credentials (care.replies.reply_settings_set) outlive a listening config edit.
        clean.update({k: v for k, v in source.config.items() if k.startswith("reply_")})
        source.config = clean
        # A new feed URL or hashtag starts from scratch: the old cursor describes another stream.
        source.cursor = {}
    source.save()
    audit_record(
        actor=actor,
        action="listening.source.update",
        target_type="source",
        target_id=str(source.pk),
        summary=f"source {source.name!r}",
    )
    return source


def source_token_rotate(*, source: Source, actor=None) -> str:
    if source.kind != SourceKind.WEBHOOK:
        raise ValidationError({"kind": [_("Only webhook sources have a token.")]})
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    source.token_digest = _digest(token)
    source.token_prefix = token[:10]
    source.save(update_fields=["token_digest", "token_prefix"])
    audit_record(
        actor=actor,
        action="listening.source.token",
        target_type="source",
        target_id=str(source.pk),
        summary=f"new token for {source.name!r}",
    )
    return token


def source_status_set(*, source: Source, status: str, actor=None) -> Source:
    if status not in SourceStatus.values:
        raise ValidationError({"status": [_("Must be active or paused.")]})
    source.status = status
    source.save(update_fields=["status"])
    audit_record(
        actor=actor,
        action=f"listening.source.{'resume' if status == 'active' else 'pause'}",
        target_type="source",
        target_id=str(source.pk),
        summary=source.name,
    )
    return source


def source_delete(*, source: Source, actor=None) -> None:
    """Soft delete: the runner stops it, its mentions stay (they keep ``source`` for history)."""
    source.deleted_at = timezone.now()
    source.status = SourceStatus.PAUSED
    source.token_digest = ""
    source.save(update_fields=["deleted_at", "status", "token_digest"])
    audit_record(
        actor=actor,
        action="listening.source.delete",
        target_type="source",
        target_id=str(source.pk),
        summary=source.name,
    )


def source_by_token(token: str) -> Source | None:
    if not token or not token.startswith(TOKEN_PREFIX):
        return None
    return Source.objects.filter(
        token_digest=_digest(token), kind=SourceKind.WEBHOOK, deleted_at__isnull=True
    ).first()


def file_source_get() -> Source:
    """The one "File import" source that CLI and upload imports are attributed to."""
    source = Source.objects.filter(kind=SourceKind.FILE, deleted_at__isnull=True).first()
    if source is None:
        source = Source.objects.create(name="File import", kind=SourceKind.FILE)
    return source


def source_received(*, source_id: int, received: int, rejected: int = 0, reason: str = "") -> None:
    """Count a batch at receipt (events/min, totals); the last rejection reason is shown."""
    now = timezone.now()
    updates: dict[str, Any] = {}
    if received:
        updates["received_count"] = F("received_count") + received
        updates["last_event_at"] = now
    if rejected:
        updates["rejected_count"] = F("rejected_count") + rejected
    if updates:
        Source.objects.filter(pk=source_id).update(**updates)
    if rejected:
        minute = now.replace(second=0, microsecond=0)
        with transaction.atomic():
            row, _created = SourceMinute.objects.select_for_update().get_or_create(
                source_id=source_id, minute=minute
            )
            SourceMinute.objects.filter(pk=row.pk).update(rejected=F("rejected") + rejected)


def source_error_record(*, source_id: int, message: str) -> None:
    Source.objects.filter(pk=source_id).update(
        last_error=message[:2000], last_error_at=timezone.now(), error_count=F("error_count") + 1
    )


def source_error_clear(*, source_id: int) -> None:
    Source.objects.filter(pk=source_id).exclude(last_error="").update(last_error="")


def source_cursor_save(*, source_id: int, cursor: dict) -> None:
    Source.objects.filter(pk=source_id).update(cursor=cursor)
