"""`apiary import mentions` and `apiary classify`: per-line reports, same code path."""

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from apiary.listening.importers import mentions_import
from apiary.listening.models import Mention, Source

pytestmark = pytest.mark.django_db

CSV = (
    "platform;id;content;date;author;followers;location\n"
    "x;t1;Love the new Northwind roast!;2026-01-05T10:00:00Z;ana;120;Madrid\n"
    "x;t2;;2026-01-05T10:00:00Z;bob;1;\n"
    "vk;v1;Кофе отличный, спасибо;2026-01-06;ivan;15;Москва\n"
    "x;t1;Love the new Northwind roast!;2026-01-05T10:00:00Z;ana;120;Madrid\n"
    "myspace;m1;hello;2026-01-05;tom;1;\n"
)


def run(data: bytes, name: str, **kw):
    f = io.BytesIO(data)
    f.name = name
    return mentions_import(fileobj=f, **kw)


def test_csv_import_stores_good_lines_and_reports_bad_ones():
    # when
    report = run(CSV.encode(), "export.csv")
    # then
    assert (report.processed, report.created, report.duplicates, report.rejected) == (5, 2, 1, 2)
    lines = {e["line"]: e["reason"] for e in report.errors}
    assert "text" in lines[3] and "platform" in lines[6]
    ru = Mention.objects.get(external_id="v1")
    assert (ru.language, ru.country) == ("ru", "RU")
    assert Mention.objects.get(external_id="t1").author_followers == 120
    assert Source.objects.get(kind="file").received_count == 2


def test_jsonl_import_accepts_the_webhook_shape_and_bad_lines():
    # given
    lines = [
        json.dumps(
            {
                "platform": "mastodon",
                "external_id": "https://m.example/1",
                "text": "¡Qué rico el café!",
                "created_at": "2026-02-01T09:00:00Z",
                "author": {"handle": "lola@m.example", "location": "Sevilla"},
            }
        ).encode(),
        b"{broken json",
        b"[1, 2]",
        b"\xff\xfe not utf-8",
    ]
    # when
    report = run(b"\n".join(lines) + b"\n", "export.jsonl")
    # then
    assert (report.created, report.rejected) == (1, 3)
    assert Mention.objects.get().city == "Sevilla"


def test_a_file_without_required_columns_is_refused_whole():
    report = run(b"foo,bar\n1,2\n", "x.csv")
    assert "Missing required columns" in report.file_error
    assert Mention.objects.count() == 0


def test_reimport_is_idempotent():
    run(CSV.encode(), "a.csv")
    again = run(CSV.encode(), "a.csv")
    assert again.created == 0 and again.duplicates == 3
    assert Mention.objects.count() == 2


def test_import_command_prints_the_report(tmp_path, capsys):
    path = tmp_path / "m.csv"
    path.write_text(CSV, encoding="utf-8")
    call_command("import", "mentions", str(path), stdout=sys.stdout)
    out = capsys.readouterr().out
    assert "5 rows read, 2 stored, 1 duplicates" in out
    assert "line 3:" in out


def test_classify_command_same_path_as_pipeline():
    # given
    lines = "\n".join(
        [
            json.dumps({"id": 1, "text": "This is awful, I want a refund"}),
            json.dumps({"id": "b", "text": "Где купить ваш кофе?", "lang": "ru"}),
            "not json",
            json.dumps({"id": 3}),
        ]
    )
    apiary = Path(sys.executable).with_name("apiary")
    # when
    proc = subprocess.run(
        [str(apiary), "classify"], input=lines.encode(), capture_output=True, timeout=60
    )
    # then
    out = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert proc.returncode == 1
    assert out[0] == {
        "id": 1,
        "language": "en",
        "sentiment": "negative",
        "sentiment_score": out[0]["sentiment_score"],
        "intent": "support",
    }
    assert out[0]["sentiment_score"] < 0
    assert out[1]["language"] == "ru" and out[1]["intent"] == "purchase"
    assert out[2]["line"] == 3 and "JSON" in out[2]["error"]
    assert out[3] == {"id": 3, "error": "text: is required and must be a string"}
