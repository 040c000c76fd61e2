"""Community pages under /community/ (namespace ``community``). Post addresses carry only the
post's number, never its title: a link to closed content says nothing about it."""

from django.urls import path

from apiary.community import (
    views,
    views_mail,
    views_manage,
    views_people,
    views_posts,
    views_search,
)

app_name = "community"

urlpatterns = [
    path("", views.home_view, name="home"),
    path("roadmap/", views.roadmap_view, name="roadmap"),
    path("preview/", views_posts.preview_view, name="preview"),
    path("drafts/", views_posts.drafts_view, name="drafts"),
    path("search/", views_search.search_view, name="search"),
    path("feed/", views_search.feed_view, name="feed"),
    # Spaces
    path("s/<slug:slug>/", views.space_view, name="space"),
    path("s/<slug:slug>/join/", views_manage.space_join_view, name="space_join"),
    path("s/<slug:slug>/leave/", views_manage.space_leave_view, name="space_leave"),
    path("s/<slug:slug>/follow/", views_people.space_follow_view, name="space_follow"),
    path("s/<slug:slug>/members/", views_manage.members_view, name="members"),
    path(
        "s/<slug:slug>/members/<int:user_id>/role/",
        views_manage.member_role_view,
        name="member_role",
    ),
    path(
        "s/<slug:slug>/requests/<int:request_id>/<str:decision>/",
        views_manage.request_decide_view,
        name="request_decide",
    ),
    path("s/<slug:slug>/invitations/", views_manage.invitation_create_view, name="invite_create"),
    path(
        "s/<slug:slug>/invitations/<int:invitation_id>/revoke/",
        views_manage.invitation_revoke_view,
        name="invite_revoke",
    ),
    path("s/<slug:slug>/new/", views_posts.post_new_view, name="post_new"),
    path("invite/<str:token>/", views_manage.invitation_accept_view, name="invite"),
    # Posts
    path("p/<int:post_id>/", views_posts.post_view, name="post"),
    path("p/<int:post_id>/edit/", views_posts.post_edit_view, name="post_edit"),
    path("p/<int:post_id>/history/", views_posts.post_history_view, name="post_history"),
    path("p/<int:post_id>/comment/", views_posts.comment_create_view, name="comment"),
    path("p/<int:post_id>/react/", views_posts.react_view, name="react"),
    path("p/<int:post_id>/moderate/<str:action>/", views_posts.moderate_view, name="moderate"),
    path("p/<int:post_id>/accept/", views_posts.accept_view, name="accept"),
    path("p/<int:post_id>/vote/", views_posts.idea_vote_view, name="idea_vote"),
    path("p/<int:post_id>/status/", views_posts.idea_status_view, name="idea_status"),
    path("p/<int:post_id>/poll/", views_posts.poll_vote_view, name="poll_vote"),
    path("p/<int:post_id>/entries/", views_posts.entry_create_view, name="entry_create"),
    path(
        "p/<int:post_id>/entries/<int:entry_id>/vote/",
        views_posts.entry_vote_view,
        name="entry_vote",
    ),
    path("p/<int:post_id>/winners/", views_posts.contest_winners_view, name="contest_winners"),
    path("p/<int:post_id>/files/", views_posts.attachment_upload_view, name="attachment_upload"),
    path("p/<int:post_id>/share/", views_posts.share_view, name="share"),
    path("files/<int:attachment_id>/", views_posts.attachment_view, name="attachment"),
    path("go/<str:token>/", views_posts.share_link_view, name="share_link"),
    # People, tags, notifications
    path("u/<int:user_id>/", views_people.profile_view, name="profile"),
    path("people/<str:handle>/", views_people.profile_by_handle_view, name="profile_handle"),
    path("u/<int:user_id>/follow/", views_people.user_follow_view, name="user_follow"),
    # Tag slugs keep their letters (slugify(allow_unicode=True): #кофемолка), which <slug:>
    # does not match; <str:> takes any segment and tag_get looks the slug up exactly.
    path("t/<str:slug>/", views_people.tag_view, name="tag"),
    path("t/<str:slug>/follow/", views_people.tag_follow_view, name="tag_follow"),
    path("notifications/", views_people.notifications_view, name="notifications"),
    path("notifications/read/", views_people.notifications_read_view, name="notifications_read"),
    # E-mail (views_mail.py): settings, and the one-click unsubscribe that needs no log-in
    path(
        "settings/notifications/",
        views_mail.notification_settings_view,
        name="notification_settings",
    ),
    path("unsubscribe/<str:token>/", views_mail.unsubscribe_view, name="unsubscribe"),
]
