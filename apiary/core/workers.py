"""Background workers that `apiary serve` runs inside the web process (the embedded default)
and `apiary worker` runs on their own (scale-out). Each later domain adds its worker here."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass
class RunningWorker:
    name: str
    thread: threading.Thread
    stop: Callable[[], None]


def _task_worker() -> tuple[Callable[[], None], Callable[[], None]]:
    from django_tasks_db.management.commands.db_worker import Worker

    worker = Worker(
        queue_names=["*"],
        interval=1.0,
        batch=False,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="inprocess",
        excluded_queue_names=[],
    )

    def stop() -> None:
        worker.running = False

    return worker.run, stop


# name -> factory returning (run, stop). run() blocks until stop() is called.
def _listening_consumer():
    from apiary.listening.consumer import consumer_worker

    return consumer_worker()


def _listening_sources():
    from apiary.listening.runner import sources_worker

    return sources_worker()


def _care_clock():
    from apiary.care.tasks import care_clock_worker

    return care_clock_worker()


def _recognition():
    from apiary.recognition.services import recognition_worker

    return recognition_worker()


def _alerts_detectors():
    from apiary.alerts.detectors.rate import detectors_worker

    return detectors_worker()


def _alerts_delivery():
    from apiary.alerts.delivery import delivery_worker

    return delivery_worker()


def _community_mail():
    from apiary.community.mail import mail_worker

    return mail_worker()


def _community_sessions():
    from apiary.community.services.activity import sessions_worker

    return sessions_worker()


WORKER_FACTORIES: dict[str, Callable[[], tuple[Callable[[], None], Callable[[], None]]]] = {
    "tasks": _task_worker,
    # The ingestion stream's consumer: enrich and store mentions (listening/consumer.py).
    "listening-consumer": _listening_consumer,
    # Pulling sources' connectors, one leased thread per source (listening/runner.py).
    "listening-sources": _listening_sources,
    # SLA breach check and due reply deliveries every ~2 s (care/tasks.py).
    "care-clock": _care_clock,
    # Community points ledger, ranks and badges every ~60 s, idempotent (recognition/services.py).
    "recognition": _recognition,
    # Rate and care alert detectors every ~1 s, one leader process (alerts/detectors/rate.py).
    "alerts-detectors": _alerts_detectors,
    # E-mail and webhook deliveries with retries; apart so a slow receiver never delays
    # detection (alerts/delivery.py).
    "alerts-delivery": _alerts_delivery,
    # Community notification e-mails and daily/weekly digests, claimed before sending
    # (community/mail.py).
    "community-mail": _community_mail,
    # Closes visitor sessions idle for 30 minutes with session.end (community/services/activity.py).
    "community-sessions": _community_sessions,
}


def start_in_process(names: list[str] | None = None) -> list[RunningWorker]:
    running = []
    for name, factory in WORKER_FACTORIES.items():
        if names is not None and name not in names:
            continue
        run, stop = factory()

        def target(run=run, name=name) -> None:
            try:
                run()
            except Exception:
                logger.exception("In-process worker %s stopped with an error", name)
            finally:
                from django.db import connection

                connection.close()

        thread = threading.Thread(target=target, name=f"apiary-{name}", daemon=True)
        thread.start()
        running.append(RunningWorker(name=name, thread=thread, stop=stop))
        logger.info("Started in-process worker: %s", name)
    return running


def stop_all(running: list[RunningWorker], timeout: float = 5.0) -> None:
    for worker in running:
        worker.stop()
    for worker in running:
        worker.thread.join(timeout)
