from django.contrib import admin
from django.urls import include, path
from ninja.openapi.views import openapi_json, openapi_view

from apiary.api import api
from apiary.customers import views_connect
from apiary.web import views as web_views

handler403 = "apiary.web.views.error_403"
handler404 = "apiary.web.views.error_404"
handler500 = "apiary.web.views.error_500"

urlpatterns = [
    path("healthz", web_views.healthz, name="healthz"),
    path("readyz", web_views.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    # The spec and its browsable docs live at stable, unversioned addresses.
    path("api/openapi.json", openapi_json, {"api": api}, name="openapi"),
    path("api/docs", openapi_view, {"api": api}, name="api-docs"),
    path("api/v1/", api.urls),
    path("accounts/", include("apiary.accounts.urls")),
    path("customers/", include("apiary.customers.urls")),
    path("listening/", include("apiary.listening.urls")),
    path("care/", include("apiary.care.urls")),
    path("alerts/", include("apiary.alerts.urls")),
    path("community/moderation/", include("apiary.moderation.urls")),
    path("community/", include("apiary.recognition.urls")),
    path("community/", include("apiary.community.urls")),
    # The public, embeddable touchpoint where customers link their social accounts.
    path("connect/", views_connect.connect_view, name="connect"),
    path("connect/row/", views_connect.connect_row_view, name="connect_row"),
    path("", include("apiary.web.urls")),
]
