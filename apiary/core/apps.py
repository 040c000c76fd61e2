from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apiary.core"
    label = "core"

    def ready(self) -> None:
        from apiary.core import checks  # noqa: F401  (registers system checks)
