"""The alerts app's plug-ins into other apps (imported from ``AlertsConfig.ready``)."""

import logging

from django.db import transaction

from apiary.listening.consumer import register_after_store

from .detectors.mention import on_store

logger = logging.getLogger(__name__)


def alerts_after_store(enriched, result) -> None:
    """Lead, advocate and custom mention rules over each stored batch's new mentions.

    In a savepoint: a bug or a database error in alerting must never fail the storage of
    the mentions themselves (the stream would retry and park good mentions)."""
    try:
        with transaction.atomic():
            on_store(enriched, result)
    except Exception:
        logger.exception("Alerts: the mention detectors failed on a batch; mentions are stored")


register_after_store(alerts_after_store)
