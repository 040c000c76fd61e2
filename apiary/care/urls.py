from django.urls import path

from apiary.care import views, views_live, views_settings

app_name = "care"

urlpatterns = [
    # The inbox (views.py): the list and its live-refreshed rows.
    path("", views.inbox_view, name="inbox"),
    path("rows/", views.rows_view, name="rows"),
    path("online/", views.online_view, name="online"),
    # One conversation and what an agent does in it.
    path("c/<int:pk>/", views.conversation_view, name="conversation"),
    path("c/<int:pk>/thread/", views.thread_view, name="thread"),
    path("c/<int:pk>/head/", views.head_view, name="head"),
    path("c/<int:pk>/side/", views.side_view, name="side"),
    path("c/<int:pk>/presence/", views.presence_view, name="presence"),
    path("c/<int:pk>/reply/", views.reply_view, name="reply"),
    path("c/<int:pk>/note/", views.note_view, name="note"),
    path("c/<int:pk>/status/", views.status_view, name="status"),
    path("c/<int:pk>/assign/", views.assign_view, name="assign"),
    path("c/<int:pk>/customers/", views.customer_search_view, name="customer_search"),
    path("c/<int:pk>/link/", views.link_customer_view, name="link_customer"),
    path("m/<int:message_id>/retry/", views.retry_view, name="retry"),
    path("open/<int:mention_id>/", views.open_from_mention_view, name="open"),
    # The live feed (views_live.py): SSE, and the same events as JSON for polling.
    path("stream/", views_live.stream_view, name="stream"),
    path("events/", views_live.events_view, name="events"),
    # Care managers (views_settings.py).
    path("reports/", views_settings.report_view, name="reports"),
    path("settings/sla/", views_settings.sla_policies_view, name="settings_sla"),
    path("settings/rules/", views_settings.rules_view, name="settings_rules"),
    path("settings/canned/", views_settings.canned_view, name="settings_canned"),
    path("settings/agents/", views_settings.agents_view, name="settings_agents"),
    path("settings/replies/", views_settings.reply_channels_view, name="settings_replies"),
]
