import os
import subprocess
import sys
from pathlib import Path

import pytest

from apiary import config

ROOT = Path(__file__).resolve().parents[3]


def _env(**overrides):
    env = {k: v for k, v in os.environ.items() if not k.startswith("APIARY_")}
    env.pop("DATABASE_URL", None)
    env.update(overrides)
    return env


def test_development_defaults_are_safe_and_warn_about_the_secret():
    cfg = config.load({})
    assert cfg.debug is True
    assert cfg.errors == []
    assert any("APIARY_SECRET_KEY" in w for w in cfg.warnings)
    assert cfg.database_url.startswith("sqlite:///")
    assert cfg.stream_url == "memory://"


def test_production_with_default_secret_and_no_hosts_is_refused():
    cfg = config.load({"APIARY_DEBUG": "false"})
    text = " ".join(cfg.errors)
    assert "APIARY_SECRET_KEY" in text
    assert "APIARY_ALLOWED_HOSTS" in text


def test_production_with_real_settings_is_fine():
    cfg = config.load(
        {
            "APIARY_DEBUG": "false",
            "APIARY_SECRET_KEY": "x" * 50,
            "APIARY_ALLOWED_HOSTS": "crm.example.com, www.example.com",
            "DATABASE_URL": "postgres://u:p@db:5432/apiary",
            "APIARY_STREAM_URL": "nats://127.0.0.1:4222",
        }
    )
    assert cfg.errors == []
    assert cfg.allowed_hosts == ["crm.example.com", "www.example.com"]


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"APIARY_DEBUG": "maybe"}, "APIARY_DEBUG"),
        ({"DATABASE_URL": "mysql://x@y/z"}, "unsupported database"),
        ({"DATABASE_URL": "nonsense"}, "DATABASE_URL"),
        ({"APIARY_STREAM_URL": "kafka://x"}, "unknown scheme"),
        ({"APIARY_MAX_BODY_BYTES": "ten"}, "whole number"),
        ({"APIARY_MAX_BODY_BYTES": "-5"}, "positive"),
    ],
)
def test_each_misconfiguration_is_explained(env, fragment):
    cfg = config.load(env)
    assert any(fragment in e for e in cfg.errors), cfg.errors


def _apiary(*args, env):
    return subprocess.run(
        [sys.executable, "-m", "apiary.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_apiary_check_reports_problems_in_plain_words():
    res = _apiary("check", env=_env(APIARY_DEBUG="false"))
    assert res.returncode == 1
    assert "ERROR: APIARY_SECRET_KEY is not set" in res.stdout
    assert "Traceback" not in res.stdout + res.stderr


def test_production_mode_refuses_to_start_with_the_default_secret():
    res = _apiary("serve", "--port", "0", env=_env(APIARY_DEBUG="false"))
    assert res.returncode == 1
    assert "APIARY_SECRET_KEY" in res.stderr
    assert "Traceback" not in res.stderr


def test_apiary_check_passes_on_a_sane_configuration(tmp_path):
    res = _apiary("check", env=_env(DATABASE_URL=f"sqlite:///{tmp_path}/x.sqlite3"))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "System check identified no issues" in res.stdout


def test_base_url_and_care_settings_are_parsed_and_checked():
    cfg = config.load(
        {
            "APIARY_BASE_URL": "https://community.example.com/",
            "APIARY_CARE_AUTO_ASSIGN": "off",
            "APIARY_CARE_BRAND_HANDLES": " @northwind , bluesky:northwind.bsky.social,, ",
        }
    )
    assert cfg.errors == []
    assert cfg.base_url == "https://community.example.com"
    assert cfg.care_auto_assign is False
    assert cfg.care_brand_handles == ("@northwind", "bluesky:northwind.bsky.social")

    bad = config.load({"APIARY_BASE_URL": "community.example.com", "APIARY_CARE_AUTO_ASSIGN": "x"})
    text = " ".join(bad.errors)
    assert "APIARY_BASE_URL" in text and "absolute" in text
    assert "APIARY_CARE_AUTO_ASSIGN" in text

    prod = config.load({"APIARY_DEBUG": "false", "APIARY_SECRET_KEY": "x" * 50})
    assert any("APIARY_BASE_URL" in w for w in prod.warnings)


def test_parallel_reads_are_on_by_default_and_can_be_turned_off():
    assert config.load({}).db_parallel is True
    assert config.load({"APIARY_DB_PARALLEL": "off"}).db_parallel is False
    bad = config.load({"APIARY_DB_PARALLEL": "sometimes"})
    assert any("APIARY_DB_PARALLEL" in e for e in bad.errors)
