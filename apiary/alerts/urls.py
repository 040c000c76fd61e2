from django.urls import path

from . import views, views_live

app_name = "alerts"

urlpatterns = [
    path("", views.alert_list_view, name="list"),
    path("rows/", views.alert_rows_view, name="rows"),
    path("stream/", views_live.stream_view, name="stream"),
    path("badge/", views.alert_badge_view, name="badge"),
    path("<int:alert_id>/", views.alert_detail_view, name="detail"),
    path("<int:alert_id>/acknowledge/", views.alert_acknowledge_view, name="acknowledge"),
    path("<int:alert_id>/resolve/", views.alert_resolve_view, name="resolve"),
    path(
        "<int:alert_id>/actions/<slug:action_key>/",
        views.alert_action_view,
        name="action",
    ),
    path("rules/", views.rule_list_view, name="rules"),
    path("rules/new/", views.rule_create_view, name="rule_create"),
    path("rules/preview/", views.rule_preview_view, name="rule_preview"),
    path("rules/<int:rule_id>/", views.rule_edit_view, name="rule_edit"),
    path("rules/<int:rule_id>/delete/", views.rule_delete_view, name="rule_delete"),
    path("webhooks/", views.endpoint_list_view, name="endpoints"),
    path("webhooks/new/", views.endpoint_create_view, name="endpoint_create"),
    path("webhooks/<int:endpoint_id>/", views.endpoint_edit_view, name="endpoint_edit"),
    path("webhooks/<int:endpoint_id>/delete/", views.endpoint_delete_view, name="endpoint_delete"),
    path("webhooks/<int:endpoint_id>/test/", views.endpoint_test_view, name="endpoint_test"),
]
