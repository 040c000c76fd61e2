"""The points ledger: what each community fact is worth, and reconciling the ledger with it.

Why reconciliation rather than "add points when something happens":

- **No signals, no logic in ``save()``, no hooks in community services.** Community writes stay
  exactly as they are; the recognition job reads the content tables afterwards. A bug here can
  never break posting, and recognition can be switched off, re-weighted or rebuilt at any time.
- **The content tables are the truth.** For a set of posts (the ones the activity log says were
  touched, or an id range during a sweep) :func:`expected_facts` lists every point-earning fact
  as it stands *now* — published posts, replies to other people, accepted answers, reactions
  received, shipped ideas, contest placings, upheld flags — and :func:`reconcile` appends the
  difference between that and what the ledger holds per ``(source, member)``. Replaying the same
  posts appends nothing (idempotent); a post that was removed, a reaction withdrawn, an answer
  un-accepted or a hard-deleted space shows up as a fact that is no longer there and gets a
  negative entry (a reversal); a changed weight gets a correction entry. Nothing is ever updated
  or deleted, so the ledger is its own audit trail and a rebuild is the same code run over every
  post.
- **Corrections are dated at the fact's time** (``at``), so a period's sum on a leaderboard is
  always what that period's facts are worth under today's rules.

Anti-farming choices: replies on one's own post, reactions on one's own content and accepted
answers to one's own question earn nothing; several reaction kinds from one member on one post or
comment count as one "like received".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Max, Min, Q, Sum
from django.utils import timezone

from apiary.community.models import (
    ActivityEvent,
    Audience,
    Comment,
    CommentState,
    ContestEntry,
    Flag,
    FlagState,
    IdeaStatus,
    Post,
    PostState,
    PostType,
    Reaction,
)
from apiary.recognition.conf import DEFAULTS, conf
from apiary.recognition.models import PointEntry, PointWeight, Reason

DEFAULT_WEIGHTS: dict[str, int] = dict(DEFAULTS["weights"])


def weights() -> dict[str, int]:
    """Effective weights: built-in defaults ← ``settings.APIARY_RECOGNITION["weights"]`` ←
    ``PointWeight`` rows (staff, at run time). One query."""
    out = {reason: int(DEFAULT_WEIGHTS.get(reason, 0)) for reason in Reason.values}
    for reason, value in (conf("weights") or {}).items():
        if reason in out:
            out[reason] = int(value)
    for reason, value in PointWeight.objects.values_list("reason", "points"):
        if reason in out:
            out[reason] = int(value)
    return out


@dataclass(frozen=True)
class Scope:
    """Which posts a reconciliation covers: an explicit set of ids, or the id range [lo, hi)
    (``hi`` None = open-ended), which also reaches ledger rows of posts deleted since."""

    post_ids: frozenset[int] | None = None
    lo: int = 0
    hi: int | None = None

    def q(self, field: str) -> Q:
        if self.post_ids is not None:
            return Q(**{f"{field}__in": sorted(self.post_ids)})
        cond = Q(**{f"{field}__gte": self.lo})
        if self.hi is not None:
            cond &= Q(**{f"{field}__lt": self.hi})
        return cond


@dataclass(frozen=True)
class Fact:
    source: str
    user_id: int
    reason: str
    space_id: int
    post_id: int
    at: datetime


def _latest_events(kind: str, post_ids: Iterable[int]) -> dict[int, datetime]:
    ids = sorted(set(post_ids))
    if not ids:
        return {}
    rows = (
        ActivityEvent.objects.filter(kind=kind, post_id__in=ids)
        .values("post_id")
        .annotate(latest=Max("at"))
        .values_list("post_id", "latest")
    )
    return dict(rows)


def expected_facts(scope: Scope, flagged_authors: set[int] | None = None) -> list[Fact]:
    """Every point-earning fact among the scope's posts, as the content tables stand now.
    A fixed handful of queries whatever the scope's size (each one indexed by post).
    ``flagged_authors`` (optional) collects the authors of content with upheld flags: their
    rank may change although their points do not."""
    facts: list[Fact] = []
    published = PostState.PUBLISHED
    posts = list(
        Post.objects.filter(
            scope.q("pk"), state=published, author_id__isnull=False, reshare_of__isnull=True
        ).values_list(
            "pk", "author_id", "space_id", "published_at", "created_at", "type", "idea_status"
        )
    )
    shipped = [p for p in posts if p[5] == PostType.IDEA and p[6] == IdeaStatus.SHIPPED]
    shipped_at = _latest_events("idea.status", (p[0] for p in shipped))
    for pk, author_id, space_id, published_at, created_at, _type, _status in posts:
        at = published_at or created_at
        facts.append(Fact(f"post:{pk}", author_id, Reason.POST, space_id, pk, at))
    for pk, author_id, space_id, published_at, created_at, _type, _status in shipped:
        at = shipped_at.get(pk) or published_at or created_at
        facts.append(Fact(f"idea:{pk}", author_id, Reason.IDEA_SHIPPED, space_id, pk, at))

    # replies to someone else's post
    for pk, author_id, post_id, space_id, post_author_id, at in Comment.objects.filter(
        scope.q("post_id"),
        state=CommentState.PUBLISHED,
        post__state=published,
        author_id__isnull=False,
    ).values_list("pk", "author_id", "post_id", "post__space_id", "post__author_id", "created_at"):
        if author_id != post_author_id:
            facts.append(Fact(f"reply:{pk}", author_id, Reason.REPLY, space_id, post_id, at))

    # accepted answers (not to one's own question); dated by the acceptance
    accepted = list(
        Post.objects.filter(
            scope.q("pk"),
            state=published,
            accepted_comment__isnull=False,
            accepted_comment__state=CommentState.PUBLISHED,
            accepted_comment__author_id__isnull=False,
        ).values_list(
            "pk",
            "space_id",
            "author_id",
            "accepted_comment_id",
            "accepted_comment__author_id",
            "accepted_comment__created_at",
        )
    )
    accepted_at = _latest_events("answer.accept", (a[0] for a in accepted))
    for pk, space_id, asker_id, comment_id, answerer_id, created in accepted:
        if answerer_id != asker_id:
            at = accepted_at.get(pk) or created
            facts.append(
                Fact(f"accept:{comment_id}", answerer_id, Reason.ACCEPTED_ANSWER, space_id, pk, at)
            )

    # reactions received: one per reacting member per post / comment, never one's own
    for post_id, reactor_id, author_id, space_id, at in (
        Reaction.objects.filter(
            scope.q("post_id"), post__state=published, post__author_id__isnull=False
        )
        .values("post_id", "user_id", "post__author_id", "post__space_id")
        .annotate(at=Min("created_at"))
        .values_list("post_id", "user_id", "post__author_id", "post__space_id", "at")
    ):
        if reactor_id != author_id:
            facts.append(
                Fact(
                    f"like:p{post_id}:{reactor_id}",
                    author_id,
                    Reason.LIKE_RECEIVED,
                    space_id,
                    post_id,
                    at,
                )
            )
    for comment_id, post_id, reactor_id, author_id, space_id, at in (
        Reaction.objects.filter(
            scope.q("comment__post_id"),
            comment__state=CommentState.PUBLISHED,
            comment__post__state=published,
            comment__author_id__isnull=False,
        )
        .values(
            "comment_id",
            "comment__post_id",
            "user_id",
            "comment__author_id",
            "comment__post__space_id",
        )
        .annotate(at=Min("created_at"))
        .values_list(
            "comment_id",
            "comment__post_id",
            "user_id",
            "comment__author_id",
            "comment__post__space_id",
            "at",
        )
    ):
        if reactor_id != author_id:
            facts.append(
                Fact(
                    f"like:c{comment_id}:{reactor_id}",
                    author_id,
                    Reason.LIKE_RECEIVED,
                    space_id,
                    post_id,
                    at,
                )
            )

    # contest placings
    for pk, post_id, author_id, rank, space_id, decided_at, created in ContestEntry.objects.filter(
        scope.q("post_id"),
        post__state=published,
        winner_rank__isnull=False,
        removed_at__isnull=True,
        author_id__isnull=False,
    ).values_list(
        "pk",
        "post_id",
        "author_id",
        "winner_rank",
        "post__space_id",
        "post__contest_decided_at",
        "created_at",
    ):
        reason = Reason.CONTEST_WIN if rank == 1 else Reason.CONTEST_PLACE
        facts.append(
            Fact(f"contest:{pk}", author_id, reason, space_id, post_id, decided_at or created)
        )

    # upheld flags: the flagger helped keep the space clean
    for (
        pk,
        flagger_id,
        post_id,
        c_post_id,
        space_id,
        c_space_id,
        resolved,
        created,
        author_id,
        c_author_id,
    ) in Flag.objects.filter(
        scope.q("post_id") | scope.q("comment__post_id"), state=FlagState.UPHELD
    ).values_list(
        "pk",
        "user_id",
        "post_id",
        "comment__post_id",
        "post__space_id",
        "comment__post__space_id",
        "resolved_at",
        "created_at",
        "post__author_id",
        "comment__author_id",
    ):
        if flagged_authors is not None and (author_id or c_author_id):
            flagged_authors.add(author_id or c_author_id)
        facts.append(
            Fact(
                f"flag:{pk}",
                flagger_id,
                Reason.FLAG_UPHELD,
                space_id or c_space_id,
                post_id or c_post_id,
                resolved or created,
            )
        )
    return facts


def reconcile(scope: Scope, *, weights_now: dict[str, int] | None = None, now=None) -> set[int]:
    """Append the ledger entries that make it agree with :func:`expected_facts` for the scope.
    Returns the members whose points or counts changed, plus authors of content with upheld
    flags (their rank depends on them). Idempotent: a second call appends
    nothing."""
    w = weights() if weights_now is None else weights_now
    now = now or timezone.now()
    flagged_authors: set[int] = set()
    facts = expected_facts(scope, flagged_authors)
    # Each row carries its post's audience, so readers filter by (space, audience) on the
    # ledger alone; a post whose audience changes moves its points between the two groups.
    audiences = dict(
        Post.objects.filter(pk__in=sorted({f.post_id for f in facts})).values_list("pk", "audience")
    )
    expected: dict[tuple[str, int, str], Fact] = {}
    for fact in facts:
        audience = audiences.get(fact.post_id, Audience.EVERYONE)
        expected[(fact.source, fact.user_id, audience)] = fact

    ledger: dict[tuple[str, int, str], dict] = {}
    max_seq: dict[str, int] = {}
    for row in (
        PointEntry.objects.filter(scope.q("post_id"))
        .values("source", "user_id", "audience")
        .annotate(
            net_points=Sum("points"),
            net_facts=Sum("facts"),
            first_at=Min("at"),
            any_reason=Max("reason"),
            any_space=Max("space_id"),
            any_post=Max("post_id"),
            last_seq=Max("seq"),
        )
    ):
        ledger[(row["source"], row["user_id"], row["audience"])] = row
        max_seq[row["source"]] = max(max_seq.get(row["source"], -1), row["last_seq"])

    new: list[PointEntry] = []
    changed: set[int] = set()
    for key in expected.keys() | ledger.keys():
        source, user_id, audience = key
        fact = expected.get(key)
        held = ledger.get(key)
        want_points = int(w.get(fact.reason, 0)) if fact else 0
        want_facts = 1 if fact else 0
        have_points = int(held["net_points"] or 0) if held else 0
        have_facts = int(held["net_facts"] or 0) if held else 0
        if want_points == have_points and want_facts == have_facts:
            continue
        seq = max_seq.get(source, -1) + 1
        max_seq[source] = seq
        new.append(
            PointEntry(
                user_id=user_id,
                space_id=fact.space_id if fact else held["any_space"],
                post_id=fact.post_id if fact else held["any_post"],
                audience=audience,
                reason=fact.reason if fact else held["any_reason"],
                source=source,
                seq=seq,
                points=want_points - have_points,
                facts=want_facts - have_facts,
                # a reversal keeps the original fact's date, so its period loses the points
                at=(held["first_at"] if held else fact.at),
                recorded_at=now,
            )
        )
        changed.add(user_id)
    changed |= flagged_authors
    if new:
        # The job holds its cursor lock while reconciling; ignore_conflicts only guards a
        # manual rebuild racing the loop (the next pass settles any difference left).
        PointEntry.objects.bulk_create(new, batch_size=500, ignore_conflicts=True)
    return changed


def post_ids_for_events(rows: Iterable[tuple[int | None, int | None]]) -> set[int]:
    """Posts touched by activity events (``(post_id, comment_id)`` pairs)."""
    post_ids: set[int] = set()
    comment_ids: set[int] = set()
    for post_id, comment_id in rows:
        if post_id:
            post_ids.add(int(post_id))
        elif comment_id:
            comment_ids.add(int(comment_id))
    if comment_ids:
        post_ids.update(
            Comment.objects.filter(pk__in=sorted(comment_ids)).values_list("post_id", flat=True)
        )
    return post_ids


def totals_for(user_ids: Iterable[int]) -> dict[int, dict[str, tuple[int, int]]]:
    """user → reason → (points, live facts), from the ledger in one grouped query."""
    out: dict[int, dict[str, tuple[int, int]]] = defaultdict(dict)
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    for user_id, reason, points, facts in (
        PointEntry.objects.filter(user_id__in=ids)
        .values("user_id", "reason")
        .annotate(p=Sum("points"), f=Sum("facts"))
        .values_list("user_id", "reason", "p", "f")
    ):
        out[user_id][reason] = (int(points or 0), int(facts or 0))
    return dict(out)
