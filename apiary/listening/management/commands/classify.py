"""`apiary classify`: JSON Lines in on stdin, one JSON line out per input.

Input ``{"id": ..., "text": ..., "lang": optional}``; output ``{"id", "language", "sentiment",
"sentiment_score", "intent"}`` — the pipeline's own stages (``pipeline.classify``), so this is
how anyone checks quality. A bad line gets ``{"id", "error"}`` (``"line": n`` when it has no id)
and the rest go on; the exit status is 1 if any line was bad.
"""

from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand

from apiary.listening.pipeline import classify

CHUNK = 2000
MAX_TEXT = 20_000


class Command(BaseCommand):
    help = "Classify JSON Lines from stdin: language, sentiment and intent per line."
    # Pure stages, no database: works on a machine without one (and its checks would fail).
    requires_system_checks = []

    def add_arguments(self, parser) -> None:
        parser.add_argument("--chunk", type=int, default=CHUNK, help="lines per batch")

    def handle(self, *args, chunk: int, **options) -> None:
        stdin = sys.stdin.buffer
        out = self.stdout
        bad = 0
        pending: list[tuple[object, str, str | None]] = []

        def flush() -> None:
            if not pending:
                return
            results = classify([t for _i, t, _l in pending], [lang for _i, _t, lang in pending])
            for (item_id, _t, _l), result in zip(pending, results, strict=True):
                out.write(
                    json.dumps(
                        {
                            "id": item_id,
                            "language": result["language"],
                            "sentiment": result["sentiment"],
                            "sentiment_score": result["sentiment_score"],
                            "intent": result["intent"],
                        },
                        ensure_ascii=False,
                    )
                )
            pending.clear()

        def fail(number: int, item_id, message: str) -> None:
            nonlocal bad
            bad += 1
            flush()  # keep output in input order
            body = {"id": item_id, "error": message}
            if item_id is None:
                body["line"] = number
            out.write(json.dumps(body, ensure_ascii=False))

        for number, raw in enumerate(stdin, start=1):
            if not raw.strip():
                continue
            try:
                item = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                fail(number, None, "not valid UTF-8")
                continue
            except ValueError as exc:
                fail(number, None, f"not valid JSON ({exc})")
                continue
            if not isinstance(item, dict):
                fail(number, None, "each line must be a JSON object")
                continue
            item_id = item.get("id")
            text = item.get("text")
            lang = item.get("lang", item.get("language"))
            if not isinstance(text, str):
                fail(number, item_id, "text: is required and must be a string")
                continue
            if len(text) > MAX_TEXT:
                fail(number, item_id, f"text: is longer than {MAX_TEXT:,} characters")
                continue
            if lang is not None and not isinstance(lang, str):
                fail(number, item_id, "lang: must be a string")
                continue
            pending.append((item_id, text, lang))
            if len(pending) >= max(1, chunk):
                flush()
        flush()
        if bad:
            sys.exit(1)
