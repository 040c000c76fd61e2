from django.urls import path

from apiary.listening import views, views_insight, views_map, views_search, views_trends

app_name = "listening"

urlpatterns = [
    # "search" is the menu's entry point: full mention search with live updates (issue 5).
    path("", views_search.search_view, name="search"),
    path("live/", views_search.live_rows_view, name="live_rows"),
    path("mentions/<int:pk>/", views_search.mention_detail_view, name="mention"),
    path("mentions/<int:pk>/tags/", views_search.mention_tag_view, name="mention_tag"),
    path(
        "mentions/<int:pk>/irrelevant/",
        views_search.mention_irrelevant_view,
        name="mention_irrelevant",
    ),
    path("saved-searches/", views_search.saved_search_save_view, name="saved_search_save"),
    path(
        "saved-searches/<int:saved_id>/delete/",
        views_search.saved_search_delete_view,
        name="saved_search_delete",
    ),
    path("sources/", views.sources_view, name="sources"),
    path("sources/add/", views.source_add_view, name="source_add"),
    path("sources/<int:pk>/<str:action>/", views.source_action_view, name="source_action"),
    path("queries/", views.queries_view, name="queries"),
    # Listening insight (views_insight.py): charts, each also as ?format=csv|svg|png.
    path("insight/", views_insight.barometer_view, name="insight"),
    path("insight/share-of-voice/", views_insight.share_of_voice_view, name="share_of_voice"),
    path("insight/competitors/", views_insight.competitors_view, name="competitors"),
    path("insight/competitors/<int:pk>/", views_insight.competitor_view, name="competitor"),
    path("insight/platforms/", views_insight.platform_focus_view, name="platform_focus"),
    path("trending/", views_trends.trending_view, name="trending"),
    # Mentions map (views_map.py): choropleth + clusters; map.svg is the download.
    path("map/", views_map.map_view, name="map"),
    path("map/map.svg", views_map.map_svg_view, name="map_svg"),
]
