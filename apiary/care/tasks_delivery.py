"""The reply delivery task (django-tasks, database queue).

``replies.delivery_enqueue`` enqueues it when a reply is committed, and again with
``run_after`` for each scheduled retry where the backend supports deferred tasks. Running it
twice for one message is harmless: ``replies.deliver`` claims the message atomically, so a
duplicate task finds nothing to do. The sweeper (``replies.delivery_retry_due``) catches what a
lost task would leave behind.
"""

from __future__ import annotations

from django_tasks import task


@task()
def reply_deliver(message_id: int) -> str:
    from .replies import deliver

    return deliver(message_id=message_id).state
