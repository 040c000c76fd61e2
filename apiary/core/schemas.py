"""Shared API schema bases."""

from ninja import Schema
from pydantic import ConfigDict


class StrictIn(Schema):
    """Input schema that rejects unknown fields: a typo must not look like success."""

    model_config = ConfigDict(extra="forbid")
