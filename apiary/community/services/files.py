"""Uploads: type and size limits, images re-encoded with Pillow (drops EXIF, GPS and anything
hidden after the pixels), stored under APIARY_UPLOAD_DIR/community/ with random names, so no user
input ever reaches a path and nothing is reachable from the web root."""

from __future__ import annotations

import hashlib
import io
import re
import secrets
import unicodedata
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from apiary.community import access
from apiary.community.models import Attachment, AttachmentKind, Comment, Post
from apiary.community.services._common import deny, invalid, rate_check, require

MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_FILE_BYTES = 25 * 1024 * 1024
MAX_IMAGE_PIXELS = 40_000_000  # decompression-bomb guard (a 6,300 x 6,300 image)
IMAGE_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}
# Non-image types we accept, by extension, with the content type we serve them as. The bytes are
# sniffed too (PDF magic); everything else is served as an attachment download, never inline.
FILE_TYPES = {
    ".pdf": "application/pdf",
    ".txt": "text/plain",
    ".csv": "text/csv",
    ".zip": "application/zip",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".odt": "application/vnd.oasis.opendocument.text",
}


def upload_root() -> Path:
    root = Path(getattr(settings, "APIARY_COMMUNITY_UPLOAD_DIR", "") or settings.APIARY_UPLOAD_DIR)
    root = root / "community" if not getattr(settings, "APIARY_COMMUNITY_UPLOAD_DIR", "") else root
    root.mkdir(parents=True, exist_ok=True)
    return root


def attachment_path(attachment: Attachment) -> Path:
    return upload_root() / attachment.stored_name


def filename_sanitise(name: str) -> str:
    """Keep letters, digits, spaces, dots, dashes and underscores; no path, no control
    characters, no leading dot; at most 120 characters with the extension kept."""
    name = unicodedata.normalize("NFC", str(name or ""))
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"[^\w .\-]", "_", name, flags=re.UNICODE)
    name = re.sub(r"\s+", " ", name).strip(" .")
    if not name:
        name = "file"
    stem, dot, ext = name.rpartition(".")
    if dot and len(ext) <= 10:
        return f"{stem[: 120 - len(ext) - 1]}.{ext}"
    return name[:120]


def _reencode_image(data: bytes) -> tuple[bytes, str, str, int, int]:
    """Decode and re-encode: the output holds pixels only (no EXIF/GPS/comments)."""
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format
            if fmt not in IMAGE_FORMATS:
                raise UnidentifiedImageError(fmt)
            if img.width * img.height > MAX_IMAGE_PIXELS:
                invalid("file", _("The image is too large."))
            img.load()
            img = ImageOps.exif_transpose(img)  # keep the orientation the camera meant
            out = io.BytesIO()
            if fmt == "JPEG":
                img.convert("RGB").save(out, "JPEG", quality=88, optimize=True)
            elif fmt == "GIF":
                img.save(out, "GIF")  # first frame only: animations are not kept
            elif fmt == "WEBP":
                img.save(out, "WEBP", quality=88)
            else:
                if img.mode not in ("RGB", "RGBA", "L", "LA", "P"):
                    img = img.convert("RGBA")
                img.save(out, "PNG", optimize=True)
            return out.getvalue(), fmt, IMAGE_FORMATS[fmt], img.width, img.height
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, SyntaxError):
        invalid("file", _("This is not an image we can read (JPEG, PNG, GIF or WebP)."))
    raise AssertionError("unreachable")


@transaction.atomic
def attachment_upload(
    *,
    user,
    fileobj,
    filename: str,
    post: Post | None = None,
    comment: Comment | None = None,
    replaces: Attachment | None = None,
) -> Attachment:
    """Store one upload. Without a post/comment it waits to be attached by post_create."""
    if not access.is_authenticated(user) or not access.can_participate(user):
        deny(_("Log in to upload files."), reason="login_required")
    if post is not None and not access.can_edit_post(user=user, post=post):
        deny(_("You cannot add files to this post."), space=post.space)
    if comment is not None and not access.can_edit_comment(user=user, comment=comment):
        deny(_("You cannot add files to this comment."), space=comment.post.space)
    if replaces is not None:
        require(access.attachment_decision(user=user, attachment=replaces))
        if replaces.post_id is None or (post is not None and replaces.post_id != post.pk):
            invalid("replaces", _("Replace a file of the same post."))
        if not access.can_edit_post(user=user, post=replaces.post):
            deny(_("You cannot add files to this post."), space=replaces.post.space)
        post = replaces.post
    rate_check(user=user, action="upload")
    data = fileobj.read(MAX_FILE_BYTES + 1)
    if not data:
        invalid("file", _("The file is empty."))
    if len(data) > MAX_FILE_BYTES:
        invalid("file", _("Files may be at most %(mb)s MB.") % {"mb": MAX_FILE_BYTES // 2**20})
    name = filename_sanitise(filename)
    ext = ("." + name.rsplit(".", 1)[-1].lower()) if "." in name else ""
    width = height = None
    looks_like_image = ext in (".jpg", ".jpeg", ".png", ".gif", ".webp") or data[:4] in (
        b"\x89PNG",
        b"GIF8",
        b"\xff\xd8\xff\xe0",
        b"\xff\xd8\xff\xe1",
    )
    if looks_like_image:
        if len(data) > MAX_IMAGE_BYTES:
            invalid(
                "file", _("Images may be at most %(mb)s MB.") % {"mb": MAX_IMAGE_BYTES // 2**20}
            )
        data, fmt, content_type, width, height = _reencode_image(data)
        kind = AttachmentKind.IMAGE
        wanted_ext = {"JPEG": ".jpg", "PNG": ".png", "GIF": ".gif", "WEBP": ".webp"}[fmt]
        if ext not in (wanted_ext, ".jpeg" if fmt == "JPEG" else wanted_ext):
            name = f"{name.rsplit('.', 1)[0] if '.' in name else name}{wanted_ext}"
    elif ext in FILE_TYPES:
        content_type = FILE_TYPES[ext]
        if ext == ".pdf":
            if not data.startswith(b"%PDF-"):
                invalid("file", _("This file is not a PDF."))
            kind = AttachmentKind.PDF
        else:
            kind = AttachmentKind.FILE
    else:
        invalid(
            "file",
            _("This file type is not allowed. Allowed: images, %(types)s.")
            % {"types": ", ".join(sorted(FILE_TYPES))},
        )
    stored = f"{timezone.now():%Y%m}/{secrets.token_hex(16)}{'.bin'}"
    path = upload_root() / stored
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    transaction.on_commit(lambda: None)  # the file stays if the row commits
    version = 1
    if replaces is not None:
        version = replaces.version + 1
        Attachment.objects.filter(pk=replaces.pk).update(superseded_at=timezone.now())
    return Attachment.objects.create(
        uploader=user,
        post=post,
        comment=comment,
        kind=kind,
        original_name=name,
        stored_name=stored,
        content_type=content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        width=width,
        height=height,
        version=version,
        replaces=replaces,
    )


def attachment_delete(*, actor, attachment: Attachment) -> None:
    require(access.attachment_decision(user=actor, attachment=attachment))
    owner_ok = access.is_authenticated(actor) and attachment.uploader_id == actor.pk
    post = attachment.post or (attachment.comment.post if attachment.comment_id else None)
    if not (
        owner_ok or (post is not None and access.can_moderate(user=actor, space=post.space_id))
    ):
        deny(_("You cannot delete this file."))
    path = attachment_path(attachment)
    attachment.delete()
    transaction.on_commit(lambda: path.unlink(missing_ok=True))
