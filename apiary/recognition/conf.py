"""Recognition settings: built-in defaults, overridden by ``settings.APIARY_RECOGNITION``.

Thresholds and weights are settings, not constants scattered through code (Discourse keeps trust
levels in site settings for the same reason: every community tunes them). Point weights can also
be changed by staff at run time (``PointWeight`` rows, see ``points.weights``).
"""

from __future__ import annotations

from django.conf import settings

DEFAULTS: dict = {
    # points per fact (see models.Reason)
    "weights": {
        "post": 5,
        "reply": 2,
        "accepted_answer": 15,
        "like_received": 1,
        "idea_shipped": 25,
        "contest_win": 20,
        "contest_place": 10,
        "flag_upheld": 2,
    },
    # Trust levels 1..4: every named threshold must be met ("days" = days since joining;
    # "contributions" = published posts + replies; "max_flags_upheld" = upheld flags on the
    # member's content in the last "flags_window_days"). Level 0 has no requirement.
    "levels": {
        1: {"points": 10, "contributions": 1, "days": 0},
        2: {"points": 100, "contributions": 10, "days": 7, "likes_received": 5},
        3: {
            "points": 500,
            "contributions": 50,
            "days": 30,
            "likes_received": 50,
            "accepted_answers": 1,
            "max_flags_upheld": 0,
        },
        4: {
            "points": 2000,
            "contributions": 200,
            "days": 90,
            "likes_received": 200,
            "accepted_answers": 10,
            "max_flags_upheld": 0,
        },
    },
    "flags_window_days": 90,
    # How much one member's flag weighs, by trust level; moderators/staff of the space get
    # "moderator_flag_weight", which reaches any hide threshold on its own.
    "flag_weights": {0: 1, 1: 1, 2: 1, 3: 2, 4: 3},
    "moderator_flag_weight": 1000,
    # badges
    "helpful_moderator_actions": 10,
    "leaderboard_size": 20,
    # the background loop (apiary worker recognition)
    "interval_seconds": 60,
    "batch_posts": 500,
}


def conf(key: str):
    """One setting, with per-key override (nested dicts are merged one level deep)."""
    override = getattr(settings, "APIARY_RECOGNITION", None) or {}
    value = DEFAULTS[key]
    if key in override:
        if isinstance(value, dict) and isinstance(override[key], dict):
            merged = dict(value)
            merged.update(override[key])
            return merged
        return override[key]
    return value
