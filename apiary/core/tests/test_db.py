"""core.db.local_settings and counting_write: one transaction; PostgreSQL settings for it alone,
and only at the top level."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from apiary.core.db import counting_write

pytestmark = pytest.mark.django_db(transaction=True)


def _setting() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


def test_writes_inside_are_one_transaction_and_roll_back_together(django_user_model):
    with pytest.raises(RuntimeError), counting_write():
        django_user_model.objects.create(email="a@example.com")
        raise RuntimeError
    assert not django_user_model.objects.filter(email="a@example.com").exists()
    with counting_write():
        django_user_model.objects.create(email="b@example.com")
    assert django_user_model.objects.filter(email="b@example.com").exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL setting")
def test_the_relaxed_commit_is_local_and_never_leaks_into_a_callers_transaction():
    assert _setting() == "on"
    with counting_write():
        assert _setting() == "off"
    assert _setting() == "on"  # SET LOCAL ends with its transaction
    with transaction.atomic(), counting_write():
        assert _setting() == "on"  # the caller's commit keeps its guarantees


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL settings")
def test_local_settings_set_several_for_the_transaction_only():
    from apiary.core.db import local_settings

    def show(name):
        with connection.cursor() as cursor:
            cursor.execute(f"SHOW {name}")
            return cursor.fetchone()[0]

    with local_settings(enable_bitmapscan="off", enable_sort="off"):
        assert (show("enable_bitmapscan"), show("enable_sort")) == ("off", "off")
    assert (show("enable_bitmapscan"), show("enable_sort")) == ("on", "on")
    with transaction.atomic(), local_settings(enable_sort="off"):
        assert show("enable_sort") == "on"
