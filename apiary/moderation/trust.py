"""Trust from apiary.recognition (ranks): how much a member's flag weighs, how new they are.

The recognition app owns the rules (``recognition.selectors.flag_weight`` / ``trust_level``);
this module is the one place moderation asks, so the fallback below exists exactly once.
"""

from __future__ import annotations


def flag_weight(*, user, space) -> int:
    """1 for a normal member, 2+ for trusted ones; moderators and staff reach any threshold."""
    try:
        from apiary.recognition.selectors import flag_weight as recognition_flag_weight
    except ImportError:  # recognition not installed yet: every flag counts once
        return 1
    return max(int(recognition_flag_weight(user=user, space=space)), 0)


def trust_level(*, user) -> int:
    """0 (new) … 4 (leader)."""
    try:
        from apiary.recognition.selectors import trust_level as recognition_trust_level
    except ImportError:  # recognition not installed yet: everyone is new
        return 0
    return int(recognition_trust_level(user=user))
