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
DEFAULT_DATABASE_URL = f"sqlite:///{BASE_DIR / 'var' / 'apiary.sqlite3'}"
STREAM_SCHEMES = {"memory", "nats"}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass
class Config:
    debug: bool
    secret_key: str
    allowed_hosts: list[str]
    database_url: str
    stream_url: str
    max_body_bytes: int
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def production(self) -> bool:
        return not self.debug


def _bool(env: dict[str, str], name: str, default: bool, errors: list[str]) -> bool:
    raw = env.get(name)
    if raw is None:
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

    database_url = env.get("DATABASE_URL", "") or DEFAULT_DATABASE_URL
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
        database_url = DEFAULT_DATABASE_URL

    stream_url = env.get("APIARY_STREAM_URL", "") or "memory://"
    scheme = urlparse(stream_url).scheme
    if scheme not in STREAM_SCHEMES:
        errors.append(
            f"APIARY_STREAM_URL={stream_url!r} has an unknown scheme {scheme!r}; "
            "use memory:// (in-process, default) or nats://host:4222."
        )
        stream_url = "memory://"

    max_body_bytes = _int(env, "APIARY_MAX_BODY_BYTES", 10 * 1024 * 1024, errors)

    return Config(
        debug=debug,
        secret_key=secret_key,
        allowed_hosts=allowed_hosts,
        database_url=database_url,
        stream_url=stream_url,
        max_body_bytes=max_body_bytes,
        errors=errors,
        warnings=warnings,
    )
