from django.urls import path

from apiary.listening import views

app_name = "listening"

urlpatterns = [
    # "search" is the menu's entry point; the live list grows into full search in issue 5.
    path("", views.live_view, name="search"),
    path("live/", views.live_rows_view, name="live_rows"),
    path("sources/", views.sources_view, name="sources"),
    path("sources/add/", views.source_add_view, name="source_add"),
    path("sources/<int:pk>/<str:action>/", views.source_action_view, name="source_action"),
    path("queries/", views.queries_view, name="queries"),
]
