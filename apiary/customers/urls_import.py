"""Import pages; ``customers/urls.py`` adds these patterns to the ``customers`` namespace."""

from django.urls import path

from apiary.customers import views_import

urlpatterns = [
    path("import/", views_import.import_page, name="import"),
    path("import/<int:job_id>/", views_import.import_job, name="import_job"),
]
