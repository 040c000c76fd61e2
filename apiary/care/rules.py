"""Inbox rules: when a stored mention opens a conversation.

A rule's ``conditions`` are ANDed; a mention opens a conversation when any active rule holds
(the first by ``position`` names the reason; the largest boost of the rules that hold raises
its priority). ``rule_conditions_validate`` is the only way conditions get saved: unknown keys,
bad values and conditions that can never hold together are refused with a message naming them.

The ingest hook evaluates rules in memory: ``rule_book()`` compiles the active rules once and
recompiles only when they change (their count and newest ``updated_at``, checked at most every
``CHECK_SECONDS``, like ``listening.consumer.PipelineState`` does for queries), so a batch costs
no rule queries at all.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db.models import Count, Max
from django.utils.translation import gettext as _

from .models import InboxRule

CHECK_SECONDS = 2.0
MAX_AGE_SECONDS = 60.0  # segments' filters may change without touching the rules
MAX_BOOST = 50

QUERY_KINDS = ("brand", "competitor", "topic")
INTENTS = ("purchase", "support", "none")
SENTIMENTS = ("positive", "neutral", "negative")
LANGUAGES = ("en", "ru", "es", "other", "und")

LIST_KEYS = ("query_kinds", "intents", "sentiments", "platforms", "languages", "countries")
BOOL_KEYS = ("is_question", "reply_to_brand", "customer_linked")
KEYS = (
    *LIST_KEYS,
    *BOOL_KEYS,
    "min_followers",
    "max_followers",
    "min_customer_value",
    "segment_id",
)

DEFAULT_RULES = [
    # (name, conditions, boost, position)
    (
        "Support requests about the brand",
        {"query_kinds": ["brand"], "intents": ["support"]},
        10,
        10,
    ),
    ("Direct replies to the brand", {"reply_to_brand": True}, 5, 20),
    (
        "Unhappy known customers",
        {"customer_linked": True, "sentiments": ["negative"]},
        15,
        30,
    ),
    (
        "Questions to the brand",
        {"query_kinds": ["brand"], "is_question": True},
        0,
        40,
    ),
    (
        "Negative posts from influential authors",
        {"query_kinds": ["brand"], "sentiments": ["negative"], "min_followers": 10_000},
        10,
        50,
    ),
]


# --- Validation -------------------------------------------------------------------------------


def _allowed_values(key: str) -> tuple[str, ...]:
    if key == "query_kinds":
        return QUERY_KINDS
    if key == "intents":
        return INTENTS
    if key == "sentiments":
        return SENTIMENTS
    if key == "languages":
        return LANGUAGES
    if key == "platforms":
        from apiary.listening.raw import PLATFORMS

        return tuple(sorted(PLATFORMS))
    from apiary.customers.countries import COUNTRY_CODES

    return tuple(sorted(COUNTRY_CODES))


def rule_conditions_validate(conditions) -> dict:
    """Clean a conditions dict or raise ``ValidationError({"conditions.<key>": [why]})``."""
    if not isinstance(conditions, dict):
        raise ValidationError({"conditions": [_("Must be an object of condition → value.")]})
    errors: dict[str, list[str]] = {}
    clean: dict = {}

    def err(key: str, message: str) -> None:
        errors.setdefault(f"conditions.{key}", []).append(message)

    for key in conditions:
        if key not in KEYS:
            err(
                str(key)[:60],
                _("Unknown condition. Known conditions: %(keys)s.") % {"keys": ", ".join(KEYS)},
            )
    for key in LIST_KEYS:
        if key not in conditions:
            continue
        value = conditions[key]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            err(key, _("Must be a list of text values."))
            continue
        if not value:
            err(key, _("An empty list can never match; remove the condition instead."))
            continue
        if key == "countries":
            value = [v.strip().upper() for v in value]
        else:
            value = [v.strip().lower() for v in value]
        allowed = _allowed_values(key)
        bad = [v for v in value if v not in allowed]
        if bad:
            shown = ", ".join(allowed) if len(allowed) <= 20 else _("ISO 3166-1 alpha-2 codes")
            err(
                key,
                _("Unknown value(s) %(bad)s; use %(allowed)s.")
                % {"bad": ", ".join(repr(b) for b in bad[:5]), "allowed": shown},
            )
            continue
        clean[key] = sorted(set(value))
    for key in BOOL_KEYS:
        if key in conditions:
            if not isinstance(conditions[key], bool):
                err(key, _("Must be true or false."))
            else:
                clean[key] = conditions[key]
    for key in ("min_followers", "max_followers"):
        if key in conditions:
            v = conditions[key]
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                err(key, _("Must be a whole number, 0 or more."))
            else:
                clean[key] = v
    if "min_customer_value" in conditions:
        v = conditions["min_customer_value"]
        try:
            if isinstance(v, bool) or not isinstance(v, int | float | str):
                raise InvalidOperation
            amount = Decimal(str(v))
            if not amount.is_finite() or amount < 0:
                raise InvalidOperation
            clean["min_customer_value"] = str(amount.quantize(Decimal("0.01")))
        except (InvalidOperation, ValueError):
            err("min_customer_value", _("Must be an amount, 0 or more."))
    if "segment_id" in conditions:
        v = conditions["segment_id"]
        from apiary.customers.models import Segment

        if isinstance(v, bool) or not isinstance(v, int):
            err("segment_id", _("Must be a segment id."))
        elif not Segment.objects.filter(pk=v).exists():
            err("segment_id", _("No segment with id %(id)s.") % {"id": v})
        else:
            clean["segment_id"] = v
    # Conditions that can never hold together.
    lo, hi = clean.get("min_followers"), clean.get("max_followers")
    if lo is not None and hi is not None and lo > hi:
        err(
            "max_followers",
            _("min_followers (%(lo)s) is above max_followers (%(hi)s): nothing can match.")
            % {"lo": lo, "hi": hi},
        )
    if clean.get("customer_linked") is False:
        for key in ("min_customer_value", "segment_id"):
            if key in clean:
                err(
                    key,
                    _("customer_linked is false, so %(key)s can never hold.") % {"key": key},
                )
    if not errors and not clean:
        errors["conditions"] = [
            _(
                "A rule without conditions would open a conversation for every mention; "
                "add at least one condition."
            )
        ]
    if errors:
        raise ValidationError(errors)
    return clean


# --- Facts about one stored mention, gathered in bulk by the hook -----------------------------

# Words that open a question when the "?" is left out. Ambiguous openers ("que", "como",
# "will", "have") are left out on purpose: "que bueno el café" is not a question.
_QUESTION_WORDS_TEXT = {
    "en": "what why how when where who whom whose which can could would should is are does do "
    "did anyone anybody",
    "ru": "что почему зачем как когда где куда откуда кто какой какая какое какие каков сколько "
    "чей можно подскажите скажите",
    "es": "qué cómo cuándo dónde adónde quién quiénes cuál cuáles cuánto cuánta cuántos cuántas "
    "alguien puedo pueden podéis sabéis",
}
_QUESTION_WORDS = frozenset(w for text in _QUESTION_WORDS_TEXT.values() for w in text.split())
_LEADING_HANDLES = re.compile(r"^(?:\s*[@#][^\s]+)+\s*")
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_RU_LI = re.compile(r"\b(?:ли|разве|неужели)\b", re.IGNORECASE)


def is_question(text: str) -> bool:
    """'?' or '¿' anywhere, a question word first (after leading @handles), or Russian 'ли'."""
    if not text:
        return False
    if "?" in text or "¿" in text or "？" in text:
        return True
    body = _LEADING_HANDLES.sub("", text[:400])
    first = _WORD.search(body)
    if first and first.group(0).casefold() in _QUESTION_WORDS and first.start() < 3:
        return True
    return bool(_RU_LI.search(body[:200]))


@dataclass
class Facts:
    platform: str
    language: str
    country: str
    sentiment: str
    intent: str
    query_kinds: frozenset[str]
    is_question: bool
    reply_to_brand: bool
    followers: int | None
    customer_id: int | None
    customer_value: Decimal | None = None
    segment_ids: frozenset[int] = field(default_factory=frozenset)


@dataclass(frozen=True)
class CompiledRule:
    id: int
    name: str
    boost: int
    position: int
    conditions: dict

    def holds(self, f: Facts) -> bool:
        c = self.conditions
        if "platforms" in c and f.platform not in c["platforms"]:
            return False
        if "languages" in c and f.language not in c["languages"]:
            return False
        if "countries" in c and f.country not in c["countries"]:
            return False
        if "sentiments" in c and f.sentiment not in c["sentiments"]:
            return False
        if "intents" in c and (f.intent or "none") not in c["intents"]:
            return False
        if "query_kinds" in c and not (f.query_kinds & set(c["query_kinds"])):
            return False
        if "is_question" in c and f.is_question != c["is_question"]:
            return False
        if "reply_to_brand" in c and f.reply_to_brand != c["reply_to_brand"]:
            return False
        if "customer_linked" in c and (f.customer_id is not None) != c["customer_linked"]:
            return False
        followers = f.followers or 0
        if "min_followers" in c and followers < c["min_followers"]:
            return False
        if "max_followers" in c and followers > c["max_followers"]:
            return False
        if "min_customer_value" in c:
            if f.customer_id is None or (f.customer_value or 0) < Decimal(c["min_customer_value"]):
                return False
        if "segment_id" in c and c["segment_id"] not in f.segment_ids:
            return False
        return True


@dataclass(frozen=True)
class RuleBook:
    rules: tuple[CompiledRule, ...]

    @property
    def needs_segments(self) -> frozenset[int]:
        return frozenset(
            r.conditions["segment_id"] for r in self.rules if "segment_id" in r.conditions
        )

    def match(self, facts: Facts) -> tuple[CompiledRule | None, int]:
        """The first rule that holds (the reason) and the largest boost among those that do."""
        first, boost = None, None
        for rule in self.rules:
            if rule.holds(facts):
                first = first or rule
                boost = rule.boost if boost is None else max(boost, rule.boost)
        return first, boost or 0


def compile_rules(rows) -> RuleBook:
    compiled = []
    for r in rows:
        try:
            conditions = rule_conditions_validate(r.conditions)
        except ValidationError:
            # Saved through the validator; a rule broken since (e.g. its segment deleted) is
            # skipped rather than opening conversations for everything.
            continue
        compiled.append(CompiledRule(r.pk, r.name, r.priority_boost, r.position, conditions))
    return RuleBook(tuple(compiled))


class RuleCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._book: RuleBook | None = None
        self._stamp: object = None
        self._checked = 0.0
        self._built = 0.0

    def book(self) -> RuleBook:
        now = time.monotonic()
        with self._lock:
            if self._book is not None and now - self._checked < CHECK_SECONDS:
                return self._book
            active = InboxRule.objects.filter(active=True)
            agg = active.order_by().aggregate(n=Count("pk"), m=Max("updated_at"))
            stamp = (agg["n"], agg["m"])
            if self._book is None or stamp != self._stamp or now - self._built > MAX_AGE_SECONDS:
                self._book = compile_rules(active.order_by("position", "pk"))
                self._stamp = stamp
                self._built = now
            self._checked = now
            return self._book

    def invalidate(self) -> None:
        with self._lock:
            self._book = None


_cache = RuleCache()


def rule_book() -> RuleBook:
    return _cache.book()


def rules_invalidate() -> None:
    """This process's cache; other processes see the change within ``CHECK_SECONDS``."""
    _cache.invalidate()


# --- Writes (care managers; the access check is the caller's) ---------------------------------


def _rule_clean(*, name, conditions, priority_boost, position) -> dict:
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = [_("Give the rule a name.")]
    elif len(name) > 120:
        errors["name"] = [_("At most 120 characters.")]
    if (
        isinstance(priority_boost, bool)
        or not isinstance(priority_boost, int)
        or not (-MAX_BOOST <= priority_boost <= MAX_BOOST)
    ):
        errors["priority_boost"] = [
            _("Must be a whole number from -%(m)d to %(m)d.") % {"m": MAX_BOOST}
        ]
    if isinstance(position, bool) or not isinstance(position, int) or not 0 <= position <= 10_000:
        errors["position"] = [_("Must be a whole number from 0 to 10000.")]
    try:
        conditions = rule_conditions_validate(conditions)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    return {
        "name": name,
        "conditions": conditions,
        "priority_boost": priority_boost,
        "position": position,
    }


def rule_create(
    *, name: str, conditions: dict, priority_boost: int = 0, position: int = 100, active=True
) -> InboxRule:
    data = _rule_clean(
        name=name, conditions=conditions, priority_boost=priority_boost, position=position
    )
    if InboxRule.objects.filter(name=data["name"]).exists():
        raise ValidationError({"name": [_("A rule with this name exists.")]})
    rule = InboxRule.objects.create(active=bool(active), **data)
    rules_invalidate()
    return rule


def rule_update(*, rule: InboxRule, **changes) -> InboxRule:
    allowed = {"name", "conditions", "priority_boost", "position", "active"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationError({k: [_("This field cannot be changed.")] for k in sorted(unknown)})
    merged = {
        "name": rule.name,
        "conditions": rule.conditions,
        "priority_boost": rule.priority_boost,
        "position": rule.position,
    }
    active = changes.pop("active", rule.active)
    merged.update(changes)
    data = _rule_clean(**merged)
    if InboxRule.objects.filter(name=data["name"]).exclude(pk=rule.pk).exists():
        raise ValidationError({"name": [_("A rule with this name exists.")]})
    for k, v in data.items():
        setattr(rule, k, v)
    if not isinstance(active, bool):
        raise ValidationError({"active": [_("Must be true or false.")]})
    rule.active = active
    rule.save()
    rules_invalidate()
    return rule


def rule_delete(*, rule: InboxRule) -> None:
    rule.delete()
    rules_invalidate()


def rules_ensure_defaults() -> int:
    """The default rules (support requests, replies to the brand, unhappy customers, questions,
    influential complaints), each only if no rule has its name. Returns how many were created."""
    created = 0
    for name, conditions, boost, position in DEFAULT_RULES:
        if InboxRule.objects.filter(name=name).exists():
            continue
        rule_create(name=name, conditions=conditions, priority_boost=boost, position=position)
        created += 1
    return created
