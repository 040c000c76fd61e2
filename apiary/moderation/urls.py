"""Moderation pages under /community/moderation/ (namespace ``moderation``)."""

from django.urls import path

from apiary.moderation import views

app_name = "moderation"

urlpatterns = [
    path("", views.queue_view, name="queue"),
    path("items/<int:item_id>/", views.item_view, name="item"),
    path("items/<int:item_id>/<str:action>/", views.item_action_view, name="item_action"),
    path("sanctions/<int:sanction_id>/lift/", views.sanction_lift_view, name="sanction_lift"),
    path("settings/", views.settings_view, name="settings"),
    path("flag/", views.flag_view, name="flag"),
]
