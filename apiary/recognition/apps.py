from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RecognitionConfig(AppConfig):
    name = "apiary.recognition"
    label = "recognition"
    verbose_name = _("Community recognition")
    default_auto_field = "django.db.models.BigAutoField"
