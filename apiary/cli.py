"""The `apiary` command: a thin wrapper over Django's management commands.

    apiary serve | demo | worker | check | migrate | import … | <any manage.py command>

`apiary check` reads the configuration itself first, so that it can explain every problem in
plain words even when the settings refuse to load.
"""

from __future__ import annotations

import os
import sys


def _report_config() -> int:
    from apiary import config

    cfg = config.load()
    mode = "development (APIARY_DEBUG on)" if cfg.debug else "production (APIARY_DEBUG off)"
    print(f"Mode: {mode}")
    print(f"Database: {cfg.database_url.split('@')[-1]}")
    print(f"Stream: {cfg.stream_url}")
    for w in cfg.warnings:
        print(f"WARNING: {w}")
    for e in cfg.errors:
        print(f"ERROR: {e}")
    return 1 if cfg.errors else 0


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apiary.settings")
    command = argv[1] if len(argv) > 1 else "help"
    if command == "check":
        if _report_config():
            print("Configuration has errors; fix them and run `apiary check` again.")
            sys.exit(1)
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(["apiary", *argv[1:]])
    except ImproperlyConfigured as exc:
        print(f"apiary: {exc}", file=sys.stderr)
        print("Run `apiary check` for the full list of configuration problems.", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
