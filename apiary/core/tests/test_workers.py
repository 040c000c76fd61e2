import time

import pytest

from apiary.core import workers
from apiary.core.tests import task_probe


@pytest.mark.django_db(transaction=True)
def test_in_process_worker_runs_enqueued_tasks():
    # given: a real task in the database queue
    result = task_probe.record.enqueue("hello")
    # when: the in-process worker (as `apiary serve` starts it) runs
    running = workers.start_in_process(["tasks"])
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            result.refresh()
            if result.is_finished:
                break
            time.sleep(0.2)
    finally:
        workers.stop_all(running)
    # then
    assert result.status.name == "SUCCESSFUL", result.status
    assert result.return_value == "HELLO"
