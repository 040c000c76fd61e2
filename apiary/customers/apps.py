from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    name = "apiary.customers"
    label = "customers"
    verbose_name = _("Customers")

    def ready(self) -> None:
        from apiary.customers import timeline  # noqa: F401  (registers the built-in event kinds)
