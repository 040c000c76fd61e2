from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ListeningConfig(AppConfig):
    name = "apiary.listening"
    label = "listening"
    verbose_name = _("Listening")

    def ready(self) -> None:
        # Plug mentions into the customer timeline, export and erasure (no edits to customers/).
        from apiary.listening import customer_hooks  # noqa: F401
