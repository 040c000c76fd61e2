from django.urls import path

from apiary.customers import views, views_connect

app_name = "customers"

urlpatterns = [
    path("", views.customer_list_view, name="list"),
    path("export.csv", views.customer_export_csv_view, name="export_csv"),
    path("review/", views.review_view, name="review"),
    path(
        "review/<int:suggestion_id>/accept/", views.suggestion_accept_view, name="suggestion_accept"
    ),
    path(
        "review/<int:suggestion_id>/reject/", views.suggestion_reject_view, name="suggestion_reject"
    ),
    path("<int:pk>/", views.customer_detail_view, name="detail"),
    path("<int:pk>/timeline/", views.customer_timeline_view, name="timeline"),
    path("<int:pk>/edit/", views.customer_edit_view, name="edit"),
    path("<int:pk>/identities/", views.identity_add_view, name="identity_add"),
    path(
        "<int:pk>/identities/<int:identity_id>/withdraw/",
        views.identity_withdraw_view,
        name="identity_withdraw",
    ),
    path("<int:pk>/merge/", views.customer_merge_view, name="merge"),
    path("<int:pk>/privacy/export/", views.customer_privacy_export_view, name="privacy_export"),
    path("<int:pk>/privacy/erase/", views.customer_erase_view, name="erase"),
    # The member's own accounts, from the community profile page.
    path("me/identities/", views_connect.my_identity_add_view, name="my_identity_add"),
    path(
        "me/identities/<int:identity_id>/withdraw/",
        views_connect.my_identity_withdraw_view,
        name="my_identity_withdraw",
    ),
]

from apiary.customers import urls_import  # noqa: E402  (engineer B's import pages)

urlpatterns += urls_import.urlpatterns
