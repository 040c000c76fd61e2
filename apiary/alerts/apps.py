from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AlertsConfig(AppConfig):
    name = "apiary.alerts"
    label = "alerts"
    verbose_name = _("Alerts")

    def ready(self) -> None:
        # The per-mention detectors run in the listening storage transaction (hooks.py).
        from apiary.alerts import hooks  # noqa: F401
