from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CareConfig(AppConfig):
    name = "apiary.care"
    label = "care"
    verbose_name = _("Care inbox")

    def ready(self) -> None:
        # hooks: the after_store hook that opens conversations from stored mentions, the
        # "Open conversation" action on the mention detail page, the timeline kind.
        from apiary.care import hooks  # noqa: F401
