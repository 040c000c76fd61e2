"""Identity resolution: which customer (if any) wrote this mention?

Only an exact match with a consented, active identity links an author to a customer. Anything
weaker (same name in the same city, a handle variant) becomes an :class:`IdentitySuggestion` for
a person to decide; a customer is never linked to an account they did not confirm.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, Value
from django.db.models.functions import Replace
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from apiary.accounts.services import audit_record
from apiary.customers import handles
from apiary.customers.models import Customer, IdentitySuggestion, SocialIdentity, Touchpoint
from apiary.customers.services.identities import identity_link

# Stored on the suggestion in English; the review queue shows them with {% translate %}.
REASON_NAME_CITY = gettext_noop("same name and city")
REASON_SIMILAR_HANDLE = gettext_noop("similar handle")

_LIVE_CUSTOMER = Q(deleted_at__isnull=True, erased_at__isnull=True, merged_into__isnull=True)


def _live_identities():
    """Active identities of live customers. Written as NOT EXISTS on the customer's primary key
    so PostgreSQL keeps a sane plan even before its statistics know about a fresh bulk import
    (a plain join then chose a nested loop that took minutes for 150,000 identities)."""
    dead = Customer.objects.filter(
        Q(deleted_at__isnull=False) | Q(erased_at__isnull=False) | Q(merged_into__isnull=False),
        pk=OuterRef("customer_id"),
    )
    return SocialIdentity.objects.filter(~Exists(dead), withdrawn_at__isnull=True)


_SOCIAL = sorted(handles.PLATFORMS - handles.FREEFORM_PLATFORMS)
_MIN_HANDLE_SIGNAL = 3  # shorter skeletons ("al", "jo") match far too many people


@dataclass(frozen=True, slots=True)
class AuthorRef:
    """A social author as a mention names them (raw forms welcome; they are normalised here)."""

    platform: str
    handle: str
    display_name: str = ""
    profile_url: str = ""
    location: str = ""


class IdentityIndex:
    """Every active identity in memory, for resolving a whole batch of mentions at once.

    Built with one query; lookups are dictionary hits, so the listening pipeline can resolve
    tens of thousands of authors per second without touching the database. Rebuild it (``load``)
    for each batch or on a timer: a withdrawal must stop resolving promptly.
    """

    __slots__ = ("_tables", "size")

    def __init__(self, entries: Iterable[tuple[str, str, int]] = ()) -> None:
        # One dict per platform: same meaning as a (platform, handle) key, no tuple per lookup.
        self._tables: dict[str, dict[str, int]] = {}
        size = 0
        for platform, handle, customer_id in entries:
            self._tables.setdefault(platform, {})[handle] = customer_id
            size += 1
        self.size = size

    @classmethod
    def load(cls) -> IdentityIndex:
        rows = (
            _live_identities()
            .values_list("platform", "handle", "customer_id")
            .iterator(chunk_size=10_000)
        )
        return cls(rows)

    def __len__(self) -> int:
        return self.size

    def lookup(self, platform: str, handle: str) -> int | None:
        """The customer id linked to this account, or None (also for an invalid handle)."""
        table = self._tables.get(platform)
        if table is None or not handle:
            return None
        # Normalisation is idempotent, so an already-canonical handle can skip it.
        hit = table.get(handle)
        if hit is not None:
            return hit
        try:
            return table.get(handles.normalize_handle(platform, handle))
        except handles.HandleError:
            return None

    def resolve_many(self, authors: Iterable[AuthorRef]) -> list[int | None]:
        lookup = self.lookup
        out: list[int | None] = []
        append = out.append
        for author in authors:
            found = lookup(author.platform, author.handle)
            if found is None and author.profile_url:
                found = lookup(author.platform, author.profile_url)
            append(found)
        return out


# --- Names and places ---------------------------------------------------------------------------

_CYRILLIC = str.maketrans(
    {
        "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh",
        "з": "z", "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o",
        "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts",
        "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu",
        "я": "ya", "і": "i", "ї": "yi", "є": "ye", "ґ": "g",
    }
)  # fmt: skip
_SPELLING_FOLDS = (("x", "ks"), ("kh", "h"), ("j", "y"), ("w", "v"))
_NON_WORD = re.compile(r"[^\w]+")
_LOCATION_SPLIT = re.compile(r"[,;/|·•()\n]+")
_LOCATION_JUNK = re.compile(r"[^\w\s.'’-]")


def _fold_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def name_key(name: str, *, transliterate: bool = True) -> str:
    """Comparable form of a person's name: case, accents, spacing and word order ignored; with
    ``transliterate`` also Cyrillic vs Latin spelling ("Дмитрий Орлов" = "Dmitry Orlov")."""
    text = _fold_accents(name or "")
    if transliterate:
        text = text.translate(_CYRILLIC)
    tokens = [t for t in _NON_WORD.sub(" ", text).replace("_", " ").split() if t]
    if transliterate:
        folded = []
        for token in tokens:
            for old, new in _SPELLING_FOLDS:
                token = token.replace(old, new)
            if token.endswith(("iy", "ii", "yi")):
                token = token[:-2] + "y"
            folded.append(token)
        tokens = folded
    return " ".join(sorted(tokens))


def location_cities(location: str) -> list[str]:
    """Candidate city names in a free-text profile location ("Sevilla, España" → ["Sevilla",
    "España"]); the caller matches them against known customer cities."""
    parts = (_LOCATION_JUNK.sub("", p).strip(" .-") for p in _LOCATION_SPLIT.split(location or ""))
    return [p for p in parts if len(p) >= 2][:3]


# --- Exact resolution and suggestions -----------------------------------------------------------


def _author_handle(author: AuthorRef) -> str | None:
    for raw in (author.handle, author.profile_url):
        if raw:
            try:
                return handles.normalize_handle(author.platform, raw)
            except handles.HandleError:
                continue
    return None


def _name_city_candidates(author: AuthorRef) -> dict[int, tuple[str, float]]:
    key = name_key(author.display_name)
    cities = location_cities(author.location)
    if not key or not cities:
        return {}
    variants = {v for c in cities for v in (c, c.lower(), c.upper(), c.title(), c.capitalize())}
    city_q = Q(city__in=variants)
    for city in cities:
        city_q |= Q(city__iexact=city)  # ASCII case on SQLite; the variants cover the rest
    wanted_cities = {c.casefold() for c in cities}
    plain_key = name_key(author.display_name, transliterate=False)
    found = {}
    rows = Customer.objects.filter(_LIVE_CUSTOMER, city_q).exclude(name="")
    for customer_id, name, city in rows.values_list("id", "name", "city"):
        if city.casefold() not in wanted_cities or name_key(name) != key:
            continue
        score = 0.8 if name_key(name, transliterate=False) == plain_key else 0.7
        found[customer_id] = (REASON_NAME_CITY, score)
    return found


def _handle_candidates(author: AuthorRef, handle: str) -> dict[int, tuple[str, float]]:
    platform = author.platform
    if platform in handles.FREEFORM_PLATFORMS:
        return {}
    hits: list[tuple[int, float, str]] = []  # (customer id, score, identity display name)

    skeleton = handles.handle_skeleton(platform, handle)
    if len(skeleton) >= _MIN_HANDLE_SIGNAL:
        squashed = Replace(Replace(Replace(F("handle"), Value(".")), Value("_")), Value("-"))
        rows = (
            _live_identities()
            .filter(platform=platform)
            .exclude(handle=handle)
            .annotate(squashed=squashed)
            .filter(squashed__startswith=skeleton)
            .values_list("customer_id", "handle", "display_name")[:500]
        )
        for customer_id, other, display in rows:
            if handles.handle_skeleton(platform, other) == skeleton:
                hits.append((customer_id, 0.6, display))

    local = handles.handle_local_part(platform, handle)
    if len(local) >= _MIN_HANDLE_SIGNAL:
        same_local = (
            Q(handle=local)
            | Q(platform="bluesky", handle__startswith=f"{local}.")
            | Q(platform="mastodon", handle__startswith=f"{local}@")
        )
        rows = (
            _live_identities()
            .filter(same_local, platform__in=_SOCIAL)
            .exclude(platform=platform)
            .values_list("customer_id", "platform", "handle", "display_name")[:500]
        )
        for customer_id, other_platform, other, display in rows:
            if handles.handle_local_part(other_platform, other) == local:
                hits.append((customer_id, 0.5, display))
    if not hits:
        return {}

    author_key = name_key(author.display_name)
    names = dict(Customer.objects.filter(pk__in={h[0] for h in hits}).values_list("id", "name"))
    found: dict[int, tuple[str, float]] = {}
    for customer_id, score, display in hits:
        if author_key and author_key in (name_key(display), name_key(names[customer_id])):
            score += 0.2  # the display name agrees too
        if score > found.get(customer_id, ("", 0.0))[1]:
            found[customer_id] = (REASON_SIMILAR_HANDLE, score)
    return found


def author_suggest(*, author: AuthorRef) -> list[IdentitySuggestion]:
    """Create pending suggestions for customers that *might* be this author; returns the new ones.

    Idempotent: an author already pending for a customer, or already decided by a person
    (accepted or rejected), or whose consent that customer withdrew, is not suggested again.
    """
    handle = _author_handle(author)
    if handle is None:
        return []
    candidates: dict[int, list[tuple[str, float]]] = {}
    for source in (_name_city_candidates(author), _handle_candidates(author, handle)):
        for customer_id, hit in source.items():
            candidates.setdefault(customer_id, []).append(hit)
    if not candidates:
        return []
    known = set(
        IdentitySuggestion.objects.filter(
            customer_id__in=candidates, platform=author.platform, handle=handle
        ).values_list("customer_id", flat=True)
    )
    known |= set(
        SocialIdentity.objects.filter(
            customer_id__in=candidates, platform=author.platform, handle=handle
        ).values_list("customer_id", flat=True)
    )
    new = []
    for customer_id, hits in sorted(candidates.items()):
        if customer_id in known:
            continue
        hits.sort(key=lambda h: -h[1])
        score = hits[0][1] + 0.1 * (len(hits) - 1)  # two independent signals beat one
        new.append(
            IdentitySuggestion(
                customer_id=customer_id,
                platform=author.platform,
                handle=handle,
                display_name=(author.display_name or "")[:200],
                profile_url=(
                    handles.profile_url(author.platform, handle) or author.profile_url or ""
                )[:500],
                location=(author.location or "")[:200],
                reason="; ".join(reason for reason, _score in hits),
                score=round(min(score, 0.95), 2),
            )
        )
    # A concurrent resolver may insert the same pending row; the partial unique index keeps one.
    IdentitySuggestion.objects.bulk_create(new, ignore_conflicts=True)
    return list(
        IdentitySuggestion.objects.filter(
            customer_id__in=[s.customer_id for s in new],
            platform=author.platform,
            handle=handle,
            status=IdentitySuggestion.Status.PENDING,
        ).order_by("customer_id")
    )


def author_resolve(*, author: AuthorRef, suggest: bool = True) -> Customer | None:
    """The customer behind ``author`` when a consented identity matches exactly; otherwise None,
    after queueing near matches for review when ``suggest``."""
    handle = _author_handle(author)
    if handle is None:
        return None
    identity = (
        _live_identities()
        .filter(platform=author.platform, handle=handle)
        .select_related("customer")
        .first()
    )
    if identity is not None:
        return identity.customer
    if suggest:
        author_suggest(author=author)
    return None


# --- Review decisions -------------------------------------------------------------------------


def _lock_pending(suggestion: IdentitySuggestion) -> IdentitySuggestion:
    locked = IdentitySuggestion.objects.select_for_update().get(pk=suggestion.pk)
    if locked.status != IdentitySuggestion.Status.PENDING:
        raise ValidationError({"status": [_("This suggestion was already decided.")]})
    return locked


def _decide(suggestion: IdentitySuggestion, *, status: str, actor) -> None:
    suggestion.status = status
    suggestion.decided_at = timezone.now()
    suggestion.decided_by = actor if actor is not None and actor.is_authenticated else None
    suggestion.save(update_fields=["status", "decided_at", "decided_by"])


def suggestion_accept(
    *, suggestion: IdentitySuggestion, actor, consent_text: str
) -> SocialIdentity:
    """A staff member confirms the customer agreed (e.g. in a support chat) to link the account."""
    if not (consent_text or "").strip():
        raise ValidationError(
            {"consent_text": [_("Record what the customer agreed to before linking.")]}
        )
    with transaction.atomic():
        locked = _lock_pending(suggestion)
        identity = identity_link(
            customer=locked.customer,
            platform=locked.platform,
            handle=locked.handle,
            touchpoint=Touchpoint.SUPPORT_FORM,
            consent_text=consent_text,
            actor=actor,
            display_name=locked.display_name,
            profile_url=locked.profile_url,
        )
        _decide(locked, status=IdentitySuggestion.Status.ACCEPTED, actor=actor)
        # The account now has its owner: the other candidates for it are answered too.
        others = list(
            IdentitySuggestion.objects.filter(
                platform=locked.platform,
                handle=locked.handle,
                status=IdentitySuggestion.Status.PENDING,
            ).values_list("pk", flat=True)
        )
        IdentitySuggestion.objects.filter(pk__in=others).update(
            status=IdentitySuggestion.Status.REJECTED,
            decided_at=locked.decided_at,
            decided_by=locked.decided_by,
        )
        audit_record(
            actor=actor,
            action="identity_suggestion.accept",
            target_type="customer",
            target_id=locked.customer_id,
            summary=f"{locked.platform}:{locked.handle}",
            data={
                "suggestion_id": locked.pk,
                "identity_id": identity.pk,
                "reason": locked.reason,
                "also_rejected": others,
            },
        )
    _copy_decision(locked, suggestion)
    return identity


def suggestion_reject(*, suggestion: IdentitySuggestion, actor) -> IdentitySuggestion:
    with transaction.atomic():
        locked = _lock_pending(suggestion)
        _decide(locked, status=IdentitySuggestion.Status.REJECTED, actor=actor)
        audit_record(
            actor=actor,
            action="identity_suggestion.reject",
            target_type="customer",
            target_id=locked.customer_id,
            summary=f"{locked.platform}:{locked.handle}",
            data={"suggestion_id": locked.pk, "reason": locked.reason},
        )
    _copy_decision(locked, suggestion)
    return locked


def _copy_decision(source: IdentitySuggestion, target: IdentitySuggestion) -> None:
    # Callers keep using the object they passed in; keep it in step with the database.
    target.status = source.status
    target.decided_at = source.decided_at
    target.decided_by = source.decided_by
