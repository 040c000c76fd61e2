"""Ranks (trust levels) and what each one lets a member do.

Levels are computed by the recognition job from the member's live ledger counts and account age
against ``conf("levels")`` (settings, Discourse-style, not constants in code). A level needs
every threshold of itself *and* of the levels below it. Levels 1 and 2 are kept once earned
(they only say "has taken part"); 3 (trusted) and 4 (leader) are recomputed on every pass and
are lost again, e.g. after an upheld flag on the member's content, as Discourse's TL3 is.
Staff may pin a level (``MemberStanding.level_locked``).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from apiary.recognition.conf import conf
from apiary.recognition.models import TrustLevel

KEPT_ONCE_EARNED = TrustLevel.MEMBER  # levels up to this one never drop


def level_in_force(trust_level: int, level_locked: int | None) -> int:
    """The member's level: a pinned one (staff's ``level_locked``) wins over the computed one.
    ``selectors.trust_level`` (one row read) and the leaderboard (standings loaded with the
    people) both ask this; ``level_at_least_q`` is the same rule as a database condition."""
    return int(level_locked if level_locked is not None else trust_level)


def level_at_least_q(level: int, prefix: str = "") -> Q:
    """Standings whose level in force (``level_in_force``) is at least ``level``."""
    p = prefix
    return Q(**{f"{p}level_locked__gte": level}) | Q(
        **{f"{p}level_locked__isnull": True, f"{p}trust_level__gte": level}
    )


@dataclass(frozen=True)
class Privilege:
    code: str
    level: int
    label: str


# What each level adds. Consumers ask ``selectors.has_privilege``; flag weight is enforced by
# apiary.moderation through ``selectors.flag_weight``.
PRIVILEGES: tuple[Privilege, ...] = (
    Privilege("participate", TrustLevel.NEW, _("Post, reply, react and flag content")),
    Privilege(
        "skip_first_post_review",
        TrustLevel.BASIC,
        _("New posts no longer wait for a moderator as a newcomer's do"),
    ),
    Privilege("invite", TrustLevel.MEMBER, _("Shown as a member others can ask for an invitation")),
    Privilege(
        "flag_weight_2",
        TrustLevel.TRUSTED,
        _("Flags count double, so flagged content is hidden sooner"),
    ),
    Privilege("flag_weight_3", TrustLevel.LEADER, _("Flags count three times")),
    Privilege(
        "leaderboard_highlight", TrustLevel.LEADER, _("Marked as a community leader everywhere")
    ),
)

LEVEL_DESCRIPTIONS = {
    TrustLevel.NEW: _("Just arrived."),
    TrustLevel.BASIC: _("Has taken part at least once."),
    TrustLevel.MEMBER: _("A regular contributor for a week or more."),
    TrustLevel.TRUSTED: _("A long-standing member whose contributions others value."),
    TrustLevel.LEADER: _("One of the community's most valued members."),
}


REQUIREMENT_LABELS = {
    "points": _("points"),
    "contributions": _("posts and replies"),
    "days": _("days since joining"),
    "likes_received": _("reactions received"),
    "accepted_answers": _("accepted answers"),
    "max_flags_upheld": _("upheld flags at most (recent)"),
}


def requirement_lines(required: dict) -> list[tuple[str, int]]:
    return [(str(REQUIREMENT_LABELS.get(k, k)), v) for k, v in required.items()]


def level_name(level: int) -> str:
    try:
        return str(TrustLevel(level).label)
    except ValueError:
        return str(level)


def privileges_for(level: int) -> list[Privilege]:
    return [p for p in PRIVILEGES if p.level <= level]


def requirements() -> dict[int, dict]:
    return {int(k): dict(v) for k, v in conf("levels").items()}


def meets(metrics: dict, required: dict) -> bool:
    """``metrics``: points, contributions, likes_received, accepted_answers, days,
    flags_upheld. Every named threshold must hold; ``max_flags_upheld`` is a ceiling."""
    for name, threshold in required.items():
        if name == "max_flags_upheld":
            if metrics.get("flags_upheld", 0) > threshold:
                return False
        elif metrics.get(name, 0) < threshold:
            return False
    return True


def level_for(metrics: dict, *, previous: int = 0) -> int:
    level = TrustLevel.NEW
    reqs = requirements()
    for candidate in sorted(reqs):
        if meets(metrics, reqs[candidate]):
            level = candidate
        else:
            break
    return max(int(level), min(int(previous), int(KEPT_ONCE_EARNED)))


def next_level(level: int) -> tuple[int, dict] | None:
    reqs = requirements()
    higher = sorted(k for k in reqs if k > level)
    return (higher[0], reqs[higher[0]]) if higher else None
