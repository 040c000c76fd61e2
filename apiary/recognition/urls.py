"""Recognition pages under /community/ (namespace ``recognition``)."""

from django.urls import path

from apiary.recognition import views

app_name = "recognition"

urlpatterns = [
    path("leaderboard/", views.leaderboard_view, name="leaderboard"),
    path("badges/", views.badges_view, name="badges"),
    path("badges/seen/", views.badges_seen_view, name="badges_seen"),
    path("badges/<slug:slug>/", views.badge_view, name="badge"),
]
