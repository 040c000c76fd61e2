"""The API's one pagination convention: ``?limit=&offset=`` in, ``{items, count, limit, offset}``
out. Limits above the maximum are rejected (422) rather than silently clamped, so clients notice.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from ninja import Field, Schema
from ninja.pagination import PaginationBase


class LimitOffset(PaginationBase):
    class Input(Schema):
        limit: int = Field(settings.NINJA_PAGINATION_PER_PAGE, ge=1, le=200)
        offset: int = Field(0, ge=0)

    class Output(Schema):
        items: list[Any]
        count: int
        limit: int
        offset: int

    items_attribute = "items"

    def paginate_queryset(self, queryset, pagination: Input, **params):
        offset, limit = pagination.offset, pagination.limit
        return {
            "items": list(queryset[offset : offset + limit]),
            "count": queryset.count() if isinstance(queryset, QuerySet) else len(queryset),
            "limit": limit,
            "offset": offset,
        }
