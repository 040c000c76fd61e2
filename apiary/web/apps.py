from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.utils.translation import gettext_lazy as _


class WebConfig(AppConfig):
    default = True
    name = "apiary.web"
    label = "web"
    verbose_name = _("Web")


class ApiaryAdminConfig(admin_apps.AdminConfig):
    default = False
    default_site = "apiary.web.admin_site.ApiaryAdminSite"
