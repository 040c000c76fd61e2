from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ListeningConfig(AppConfig):
    name = "apiary.listening"
    label = "listening"
    verbose_name = _("Listening")

    def ready(self) -> None:
        # customer_hooks: mentions in the customer timeline, export and erasure (no edits to
        # customers/); trends: an after_store hook that only enqueues the term rollup task.
        from apiary.listening import (
            customer_hooks,  # noqa: F401
            trends,  # noqa: F401
        )
