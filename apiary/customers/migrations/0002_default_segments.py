"""The built-in segments exist on every install, not only in the demo. A copy of
customers.segments.DEFAULT_SEGMENTS as it was when written (migrations must not import live code
that may change later); segments_ensure_defaults() stays idempotent on top of it."""

from django.db import migrations

DEFAULTS = [
    (
        "social-customers",
        "Social customers",
        "Customers with at least one consented social identity.",
        {"social": True},
    ),
    (
        "customers-on-bluesky",
        "Customers on Bluesky",
        "Customers with a consented Bluesky account.",
        {"platforms": ["bluesky"]},
    ),
    (
        "ordered-90-days-no-social",
        "Ordered in the last 90 days, no social identity",
        "Recent buyers we cannot recognise on social networks yet.",
        {"social": False, "ordered_within_days": 90},
    ),
    (
        "churn-risk",
        "Churn risk: no order in 180 days",
        "Customers who ordered before but not in the last 180 days.",
        {"not_ordered_within_days": 180, "min_orders": 1},
    ),
]


def create_defaults(apps, schema_editor):
    Segment = apps.get_model("customers", "Segment")
    for slug, name, description, filters in DEFAULTS:
        Segment.objects.get_or_create(
            slug=slug, defaults={"name": name, "description": description, "filters": filters}
        )


class Migration(migrations.Migration):
    dependencies = [("customers", "0001_initial")]

    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
