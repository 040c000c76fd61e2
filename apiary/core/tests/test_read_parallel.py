"""core.db.read_parallel: independent reads side by side in pool threads with connections of
their own, and one after the other wherever other threads would not see what this one sees."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction
from django.utils import translation

from apiary.core.db import read_parallel

pytestmark = pytest.mark.django_db(transaction=True)


def _where() -> tuple[str, object]:
    """This thread's name and its database connection (the driver's object, kept alive by the
    caller so that no later connection can reuse its identity), from a real query."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone()[0] == 1
    return threading.current_thread().name, connection.connection


def test_the_calls_run_in_pool_threads_with_connections_of_their_own():
    here, there, third = read_parallel(_where, _where, _where)
    assert here[0] == threading.current_thread().name
    assert there[0].startswith("apiary-db") and third[0].startswith("apiary-db")
    assert here[1] is not there[1] and here[1] is not third[1] and there[1] is not third[1]


def test_results_come_back_in_the_order_of_the_calls():
    assert read_parallel(lambda: 1, lambda: 2, lambda: 3) == [1, 2, 3]
    assert read_parallel(lambda: "alone") == ["alone"]


def test_the_pool_threads_read_committed_rows(django_user_model):
    django_user_model.objects.create(email="seen@example.com")

    def count() -> int:
        return django_user_model.objects.filter(email="seen@example.com").count()

    assert read_parallel(count, count) == [1, 1]


def test_inside_a_transaction_everything_runs_here_and_sees_its_writes(django_user_model):
    with transaction.atomic():
        django_user_model.objects.create(email="uncommitted@example.com")

        def count() -> tuple[str, int]:
            n = django_user_model.objects.filter(email="uncommitted@example.com").count()
            return threading.current_thread().name, n

        names = read_parallel(count, count)
    assert names == [(threading.current_thread().name, 1)] * 2


def test_off_by_setting_everything_runs_here(settings):
    settings.APIARY_DB_PARALLEL = False
    names = [name for name, _conn in read_parallel(_where, _where)]
    assert names == [threading.current_thread().name] * 2


def test_a_pool_thread_does_not_wait_on_the_pool_itself():
    # Nested calls run inline in the pool thread (a full pool would otherwise deadlock).
    def nested() -> list[str]:
        return [name for name, _conn in read_parallel(_where, _where)]

    _outer, inner = read_parallel(_where, nested)
    assert inner[0] == inner[1] and inner[0].startswith("apiary-db")


def test_the_callers_language_goes_with_the_calls():
    with translation.override("ru"):
        assert read_parallel(translation.get_language, translation.get_language) == ["ru", "ru"]


def test_an_error_in_any_call_is_raised_after_all_have_finished():
    finished = threading.Event()

    def slow() -> None:
        _where()
        finished.set()

    def fails() -> None:
        raise ValueError("bad call")

    with pytest.raises(ValueError, match="bad call"):
        read_parallel(fails, slow)
    assert finished.is_set()
    with pytest.raises(ValueError, match="bad call"):
        read_parallel(_where, fails)
