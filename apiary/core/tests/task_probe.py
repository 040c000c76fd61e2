"""A tiny task used by the worker test (tasks must live in an importable module)."""

from django_tasks import task


@task()
def record(text: str) -> str:
    return text.upper()
