"""Twelve-factor configuration: every setting comes from the environment.

Parsing lives here, apart from ``settings.py``, so that ``apiary check`` can report *all*
configuration problems in plain words instead of dying on the first traceback.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
# The development secret is public (it is in this file), so production must replace it.
DEV_SECRET_KEY = "apiary-insecure-development-key-change-me"  # noqa: S105
DEV_WEBHOOK_SECRET = "apiary-dev-webhook-secret"  # noqa: S105  (development only)
STREAM_SCHEMES = {"memory", "nats"}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass
class Config:
    debug: bool
    secret_key: str
    allowed_hosts: list[str]
    database_url: str
    stream_url: str
    max_body_bytes: int
    data_dir: Path
    orders_webhook_secret: str
    trust_x_forwarded: bool
    email: dict
    base_url: str = ""
    care_auto_assign: bool = True
    db_parallel: bool = True
    care_brand_handles: tuple[str, ...] = ()
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def production(self) -> bool:
        return not self.debug


def _bool(env: dict[str, str], name: str, default: bool, errors: list[str]) -> bool:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    errors.append(f"{name}={raw!r} is not a yes/no value; use true or false.")
    return default


def _int(env: dict[str, str], name: str, default: int, errors: list[str]) -> int:
    raw = env.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        errors.append(f"{name}={raw!r} is not a whole number.")
        return default
    if value <= 0:
        errors.append(f"{name} must be positive, got {value}.")
        return default
    return value


def load(env: dict[str, str] | None = None) -> Config:
    """Read the environment into a :class:`Config`, collecting problems instead of raising."""
    env = dict(os.environ if env is None else env)
    errors: list[str] = []
    warnings: list[str] = []

    debug = _bool(env, "APIARY_DEBUG", True, errors)
    secret_key = env.get("APIARY_SECRET_KEY", "") or DEV_SECRET_KEY
    if secret_key == DEV_SECRET_KEY:
        if debug:
            warnings.append(
                "APIARY_SECRET_KEY is not set: using the public development key "
                "(fine for development, refused in production)."
            )
        else:
            errors.append(
                "APIARY_SECRET_KEY is not set (or is the public development key) while "
                "APIARY_DEBUG is off. Set it to a long random string, e.g. "
                "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`."
            )
    elif len(secret_key) < 32:
        (errors if not debug else warnings).append(
            "APIARY_SECRET_KEY is shorter than 32 characters; use a long random string."
        )

    hosts_raw = env.get("APIARY_ALLOWED_HOSTS", "")
    allowed_hosts = [h.strip() for h in hosts_raw.split(",") if h.strip()]
    if not allowed_hosts:
        if debug:
            allowed_hosts = ["127.0.0.1", "localhost", "[::1]", "testserver"]
        else:
            errors.append(
                "APIARY_ALLOWED_HOSTS is empty while APIARY_DEBUG is off; list the host names "
                "this server answers to, comma-separated (e.g. crm.example.com)."
            )

    default_db = (
        f"sqlite:///{Path(env.get('APIARY_DATA_DIR') or BASE_DIR / 'var') / 'apiary.sqlite3'}"
    )
    database_url = env.get("DATABASE_URL", "") or default_db
    try:
        parsed = dj_database_url.parse(database_url)
        engine = parsed.get("ENGINE", "")
        if engine not in (
            "django.db.backends.sqlite3",
            "django.db.backends.postgresql",
        ):
            errors.append(
                f"DATABASE_URL uses an unsupported database ({engine or 'unknown'}); "
                "Apiary supports sqlite:/// and postgres:// URLs."
            )
    except (ValueError, KeyError) as exc:
        errors.append(f"DATABASE_URL={database_url!r} cannot be read: {exc}.")
        database_url = default_db

    stream_url = env.get("APIARY_STREAM_URL", "") or "memory://"
    scheme = urlparse(stream_url).scheme
    if scheme not in STREAM_SCHEMES:
        errors.append(
            f"APIARY_STREAM_URL={stream_url!r} has an unknown scheme {scheme!r}; "
            "use memory:// (in-process, default) or nats://host:4222."
        )
        stream_url = "memory://"

    max_body_bytes = _int(env, "APIARY_MAX_BODY_BYTES", 10 * 1024 * 1024, errors)
    data_dir = Path(env.get("APIARY_DATA_DIR") or BASE_DIR / "var").resolve()

    webhook_secret = env.get("APIARY_ORDERS_WEBHOOK_SECRET", "")
    if not webhook_secret:
        if debug:
            webhook_secret = DEV_WEBHOOK_SECRET
        else:
            warnings.append(
                "APIARY_ORDERS_WEBHOOK_SECRET is not set: the orders webhook refuses every call."
            )
    trust_x_forwarded = _bool(env, "APIARY_TRUST_X_FORWARDED", False, errors)
    email = {
        "host": env.get("APIARY_EMAIL_HOST", ""),
        "port": _int(env, "APIARY_EMAIL_PORT", 587, errors),
        "user": env.get("APIARY_EMAIL_USER", ""),
        "password": env.get("APIARY_EMAIL_PASSWORD", ""),
        "use_tls": _bool(env, "APIARY_EMAIL_USE_TLS", True, errors),
        "from": env.get("APIARY_EMAIL_FROM", "") or "Apiary <no-reply@apiary.local>",
    }
    if not debug and not email["host"]:
        warnings.append("APIARY_EMAIL_HOST is not set: e-mail goes to localhost:25.")
    # Absolute links in e-mails and outgoing webhooks (alerts, digests) need the public address;
    # a request is not around when a worker sends them.
    base_url = env.get("APIARY_BASE_URL", "").strip().rstrip("/")
    if base_url:
        parsed = urlparse(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            errors.append(
                f"APIARY_BASE_URL={base_url!r} is not an absolute http(s) address, "
                "e.g. https://community.example.com"
            )
    elif not debug:
        warnings.append(
            "APIARY_BASE_URL is not set: links in e-mails and alert webhooks are relative."
        )
    care_auto_assign = _bool(env, "APIARY_CARE_AUTO_ASSIGN", True, errors)
    # Independent reads of one request side by side in pool threads (core.db.read_parallel).
    db_parallel = _bool(env, "APIARY_DB_PARALLEL", True, errors)
    # The brand's own accounts: a reply to one of them is a "reply to the brand" for inbox rules.
    # Comma-separated, optionally platform-qualified ("bluesky:northwind.bsky.social").
    care_brand_handles = tuple(
        h.strip() for h in env.get("APIARY_CARE_BRAND_HANDLES", "").split(",") if h.strip()
    )

    return Config(
        debug=debug,
        secret_key=secret_key,
        allowed_hosts=allowed_hosts,
        database_url=database_url,
        stream_url=stream_url,
        max_body_bytes=max_body_bytes,
        data_dir=data_dir,
        orders_webhook_secret=webhook_secret,
        trust_x_forwarded=trust_x_forwarded,
        email=email,
        base_url=base_url,
        care_auto_assign=care_auto_assign,
        db_parallel=db_parallel,
        care_brand_handles=care_brand_handles,
        errors=errors,
        warnings=warnings,
    )
