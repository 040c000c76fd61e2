"""The rule vocabulary: which condition and threshold keys each kind takes, their validation
(``conditions_validate``: per-field messages, contradictions caught) and defaults.

Every key given must hold (AND). Mention kinds (lead, advocate, custom):

- ``query_ids`` / ``query_kinds`` (brand, competitor, topic): the mention matched one of them;
- ``sentiments``, ``intents``, ``platforms``, ``languages``, ``countries`` (ISO alpha-2),
  ``cities`` (names, case-insensitive): any of;
- ``min_followers`` / ``max_followers``: the author's audience;
- ``customer_linked`` (true/false), ``segment_id`` (a saved customer segment),
  ``min_customer_value`` (lifetime order total, currencies summed as numbers, as segments do);
- ``customer_bypasses_followers``: a known customer passes ``min_followers`` anyway;
- ``boost_followers``: from this audience up a lead/advocate is one severity higher.

Lead is "purchase intent" and advocate is "positive" by definition (``KIND_DEFAULTS``);
advocate also needs an influential author *or* a valuable customer. Rate kinds (crisis spike,
competitor move): ``query_ids`` / ``query_kinds``, ``countries``, ``per_country``, ``measure``
(``negative`` and/or ``volume``), ``z_score``, ``min_volume``, ``window_minutes``,
``baseline_minutes``, ``quiet_minutes``. Care kinds: ``platforms``, ``customer_linked``,
``min_customer_value``, ``segment_id``, and for VIP waiting ``wait_minutes``.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from .models import Kind

SENTIMENTS = ("positive", "neutral", "negative")
INTENTS = ("purchase", "support", "none")
LANGUAGES = ("en", "ru", "es", "other", "und")
QUERY_KINDS = ("brand", "competitor", "topic")
MEASURES = ("negative", "volume")
MAX_LIST = 200

_MENTION_KEYS = {
    "query_ids",
    "query_kinds",
    "sentiments",
    "intents",
    "platforms",
    "languages",
    "countries",
    "cities",
    "min_followers",
    "max_followers",
    "customer_linked",
    "customer_bypasses_followers",
    "segment_id",
    "min_customer_value",
    "boost_followers",
}
_RATE_KEYS = {
    "query_ids",
    "query_kinds",
    "countries",
    "per_country",
    "measure",
    "z_score",
    "min_volume",
    "window_minutes",
    "baseline_minutes",
    "quiet_minutes",
}
_CARE_KEYS = {"platforms", "customer_linked", "min_customer_value", "segment_id"}

ALLOWED_KEYS: dict[str, set[str]] = {
    Kind.LEAD: _MENTION_KEYS,
    Kind.ADVOCATE: _MENTION_KEYS,
    Kind.CUSTOM: _MENTION_KEYS,
    Kind.CRISIS_SPIKE: _RATE_KEYS,
    Kind.COMPETITOR_MOVE: _RATE_KEYS,
    Kind.SLA_BREACH: _CARE_KEYS,
    Kind.VIP_WAITING: _CARE_KEYS | {"wait_minutes"},
}

# What a kind means before any condition is added (merged under the rule's own conditions).
KIND_DEFAULTS: dict[str, dict] = {
    Kind.LEAD: {"intents": ["purchase"], "boost_followers": 1000},
    Kind.ADVOCATE: {"sentiments": ["positive"], "min_followers": 1000, "boost_followers": 10000},
    Kind.CUSTOM: {},
    Kind.CRISIS_SPIKE: {
        "query_kinds": ["brand"],
        "measure": ["negative"],
        "per_country": True,
        "z_score": 4.0,
        "min_volume": 10,
        "window_minutes": 5,
        "baseline_minutes": 30,
        "quiet_minutes": 5,
    },
    Kind.COMPETITOR_MOVE: {
        "query_kinds": ["competitor"],
        "measure": ["volume", "negative"],
        "per_country": False,
        "z_score": 4.0,
        "min_volume": 10,
        "window_minutes": 5,
        "baseline_minutes": 30,
        "quiet_minutes": 5,
    },
    Kind.SLA_BREACH: {},
    Kind.VIP_WAITING: {"min_customer_value": "200", "wait_minutes": 15},
}

LIMITS = {
    "min_followers": (0, 10**10),
    "max_followers": (0, 10**10),
    "boost_followers": (0, 10**10),
    "min_volume": (1, 10**7),
    "window_minutes": (1, 60),
    "baseline_minutes": (2, 24 * 60),
    "quiet_minutes": (1, 240),
    "wait_minutes": (1, 7 * 24 * 60),
}


def _choice_list(value, allowed, errors, key):
    if not isinstance(value, list):
        errors.setdefault(key, []).append(_("Must be a list."))
        return None
    if not value:
        errors.setdefault(key, []).append(
            _("An empty list matches nothing; remove the condition or pick at least one value.")
        )
        return None
    if len(value) > MAX_LIST:
        errors.setdefault(key, []).append(_("At most %(n)d values.") % {"n": MAX_LIST})
        return None
    out = []
    for v in value:
        if not isinstance(v, str):
            errors.setdefault(key, []).append(_("Every value must be a string."))
            return None
        v = v.strip().lower() if allowed is not None else " ".join(v.split())
        if allowed is not None and v not in allowed:
            errors.setdefault(key, []).append(
                _("Unknown value %(value)r; use one of: %(names)s.")
                % {"value": v, "names": ", ".join(sorted(allowed))}
            )
            return None
        if v and v not in out:
            out.append(v)
    if not out:
        errors.setdefault(key, []).append(_("Pick at least one value."))
        return None
    return out


def _int(value, key, errors):
    if isinstance(value, bool) or not isinstance(value, int):
        errors.setdefault(key, []).append(_("Must be a whole number."))
        return None
    low, high = LIMITS[key]
    if not low <= value <= high:
        errors.setdefault(key, []).append(
            _("Must be between %(low)s and %(high)s.") % {"low": low, "high": f"{high:,}"}
        )
        return None
    return value


def _bool(value, key, errors):
    if not isinstance(value, bool):
        errors.setdefault(key, []).append(_("Must be true or false."))
        return None
    return value


def conditions_validate(kind: str, conditions) -> dict:
    """The cleaned conditions of a rule of ``kind``, or ``ValidationError({key: [messages]})``."""
    from apiary.customers.countries import COUNTRY_CODES
    from apiary.listening.raw import PLATFORMS

    if kind not in ALLOWED_KEYS:
        raise ValidationError(
            {
                "kind": [
                    _("Unknown kind; use one of: %(names)s.") % {"names": ", ".join(Kind.values)}
                ]
            }
        )
    if conditions is None:
        conditions = {}
    if not isinstance(conditions, dict):
        raise ValidationError({"conditions": [_("Must be an object.")]})
    allowed = ALLOWED_KEYS[kind]
    errors: dict[str, list[str]] = {}
    for key in conditions:
        if key not in allowed:
            errors.setdefault(str(key), []).append(
                _("Unknown condition for a %(kind)s rule; use: %(names)s.")
                % {"kind": kind, "names": ", ".join(sorted(allowed))}
            )
    out: dict = {}
    for key, value in conditions.items():
        if key not in allowed:
            continue
        if key == "query_ids":
            if (
                not isinstance(value, list)
                or not value
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            ):
                errors.setdefault(key, []).append(_("Must be a non-empty list of query ids."))
                continue
            from apiary.listening.models import ListeningQuery

            ids = sorted(set(value))
            found = set(ListeningQuery.objects.filter(pk__in=ids).values_list("pk", flat=True))
            missing = [i for i in ids if i not in found]
            if missing:
                errors.setdefault(key, []).append(
                    _("No listening query with id %(id)s.") % {"id": missing[0]}
                )
                continue
            out[key] = ids
        elif key in ("query_kinds", "sentiments", "intents", "languages", "measure"):
            choices = {
                "query_kinds": QUERY_KINDS,
                "sentiments": SENTIMENTS,
                "intents": INTENTS,
                "languages": LANGUAGES,
                "measure": MEASURES,
            }[key]
            v = _choice_list(value, set(choices), errors, key)
            if v is not None:
                out[key] = v
        elif key == "platforms":
            v = _choice_list(value, set(PLATFORMS), errors, key)
            if v is not None:
                out[key] = v
        elif key == "countries":
            lowered = (
                [c.lower() if isinstance(c, str) else c for c in value]
                if isinstance(value, list)
                else value
            )
            v = _choice_list(lowered, {c.lower() for c in COUNTRY_CODES}, errors, key)
            if v is not None:
                out[key] = [c.upper() for c in v]
        elif key == "cities":
            v = _choice_list(value, None, errors, key)
            if v is not None:
                out[key] = [c.casefold() for c in v]
        elif key in LIMITS:
            v = _int(value, key, errors)
            if v is not None:
                out[key] = v
        elif key in ("customer_linked", "customer_bypasses_followers", "per_country"):
            v = _bool(value, key, errors)
            if v is not None:
                out[key] = v
        elif key == "segment_id":
            from apiary.customers.models import Segment

            if isinstance(value, bool) or not isinstance(value, int):
                errors.setdefault(key, []).append(_("Must be a segment id."))
            elif not Segment.objects.filter(pk=value).exists():
                errors.setdefault(key, []).append(_("No segment with id %(id)s.") % {"id": value})
            else:
                out[key] = value
        elif key == "min_customer_value":
            try:
                if isinstance(value, bool) or not isinstance(value, int | float | str):
                    raise InvalidOperation
                amount = Decimal(str(value))
                if not amount.is_finite() or amount < 0 or amount > Decimal("1e12"):
                    raise InvalidOperation
            except (InvalidOperation, ValueError):
                errors.setdefault(key, []).append(_("Must be an amount of at least 0."))
                continue
            out[key] = str(amount.quantize(Decimal("0.01")))
        elif key == "z_score":
            if isinstance(value, bool) or not isinstance(value, int | float):
                errors.setdefault(key, []).append(_("Must be a number."))
            elif not 1.0 <= float(value) <= 100.0:
                errors.setdefault(key, []).append(_("Must be between 1 and 100."))
            else:
                out[key] = float(value)
    if not errors:
        _contradictions(kind, out, errors)
    if errors:
        raise ValidationError(errors)
    return out


def _contradictions(kind: str, c: dict, errors: dict) -> None:
    eff = {**KIND_DEFAULTS[kind], **c}
    if "min_followers" in c and "max_followers" in c and c["min_followers"] > c["max_followers"]:
        errors.setdefault("min_followers", []).append(
            _("The minimum (%(min)s) is above the maximum (%(max)s): nothing could match.")
            % {"min": c["min_followers"], "max": c["max_followers"]}
        )
    if c.get("customer_linked") is False and (
        "segment_id" in c or "min_customer_value" in c or c.get("customer_bypasses_followers")
    ):
        errors.setdefault("customer_linked", []).append(
            _(
                "Authors who are not customers have no segment or customer value: "
                "this contradicts the customer conditions."
            )
        )
    if c.get("customer_bypasses_followers") and "min_followers" not in eff:
        errors.setdefault("customer_bypasses_followers", []).append(
            _("Only meaningful together with min_followers.")
        )
    if kind == Kind.LEAD and "purchase" not in eff.get("intents", ["purchase"]):
        errors.setdefault("intents", []).append(
            _("A lead rule looks for purchase intent: intents must include purchase.")
        )
    if kind == Kind.ADVOCATE and "positive" not in eff.get("sentiments", ["positive"]):
        errors.setdefault("sentiments", []).append(
            _("An advocate rule looks for positive mentions: sentiments must include positive.")
        )
    if kind == Kind.CUSTOM and not c:
        errors.setdefault("conditions", []).append(
            _("A custom rule needs at least one condition (otherwise every mention alerts).")
        )
    if kind == Kind.CRISIS_SPIKE and c.get("measure") not in (None, ["negative"]):
        errors.setdefault("measure", []).append(
            _("A crisis spike measures negative volume; use a competitor move for total volume.")
        )
    if kind in (Kind.CRISIS_SPIKE, Kind.COMPETITOR_MOVE):
        if eff["window_minutes"] >= eff["baseline_minutes"]:
            errors.setdefault("window_minutes", []).append(
                _("The window (%(w)s min) must be shorter than the baseline (%(b)s min).")
                % {"w": eff["window_minutes"], "b": eff["baseline_minutes"]}
            )


def effective(kind: str, conditions: dict) -> dict:
    """The conditions a detector applies: the kind's defaults under the rule's own."""
    return {**KIND_DEFAULTS.get(kind, {}), **(conditions or {})}
