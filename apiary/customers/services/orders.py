"""Orders: one row validator for every way in (CSV, JSON Lines, API, webhook) and a batched upsert.

``order_row_validate`` is pure: it turns one loosely typed mapping into a :class:`ValidOrder`
or raises ``ValidationError({column: [reason]})``. ``orders_upsert`` writes a batch of valid
rows in one transaction: customers are resolved and created in bulk, orders are upserted by
``external_id`` (``INSERT … ON CONFLICT (external_id) DO UPDATE``), so importing the same data
twice leaves the same rows.

Duplicate ``external_id`` values in one batch (or file): the later row wins, exactly as if the
rows had been sent one after another — the first counts as created, the later as updated.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, validate_email
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from apiary.customers.models import Customer, LifecycleStage, Order

logger = logging.getLogger(__name__)

# Active ISO 4217 currency codes (2025), without fund codes and precious metals: orders are
# paid in money. A fixed list on purpose: what we accept must not depend on the host's locale.
_CURRENCY_CODES = """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP
    BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP
    GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR
    KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK
    MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR
    SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS
    UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
"""
CURRENCIES: frozenset[str] = frozenset(_CURRENCY_CODES.split())

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("999999999999.99")  # Order.total is max_digits=14, decimal_places=2
MAX_ITEMS = 1000
LOOKUP_CHUNK = 900  # stays under SQLite's 999 bound variables in one statement
KNOWN_CUSTOMERS_MAX = 200_000
_JSON = json.JSONDecoder(parse_float=Decimal)  # one decoder, not one per row


@dataclass(slots=True)
class ValidOrder:
    external_id: str
    customer_external_id: str | None
    customer_email: str | None  # lower-cased
    ordered_at: datetime  # aware, UTC
    currency: str
    total: Decimal
    items: list[dict] = field(default_factory=list)  # prices as strings: exact in JSON
    channel: str = ""
    referral_code: str = ""
    items_json: str | None = None  # the items' JSON text as received, when already normal


@dataclass
class UpsertResult:
    created: int = 0
    updated: int = 0
    # "created" / "updated" for each input row, in input order.
    outcomes: list[str] = field(default_factory=list)


class _RowErrors(dict):
    def add(self, column: str, message: str) -> None:
        self.setdefault(column, []).append(message)


# The validator runs once per imported row (a million in the benchmark), so the common case —
# a string that is fine — takes the shortest path; odd types and errors may be slower.


def _text(errors: _RowErrors, value: Any, column: str, max_length: int) -> str | None:
    if value.__class__ is not str:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int):
            errors.add(column, _("must be text"))
            return None
        value = str(value)
    value = value.strip()
    if not value:
        return None
    if len(value) > max_length:
        errors.add(column, _("must be at most %(n)d characters long") % {"n": max_length})
        return None
    return value


def _number_error(errors: _RowErrors, column: str, value: Any) -> None:
    if value is None or (isinstance(value, str) and not value.strip()):
        errors.add(column, _("is required"))
    elif isinstance(value, bool):
        errors.add(column, _("must be a number"))
    else:
        errors.add(column, _("must be a number like 12.50 (got %(value)r)") % {"value": value})


def _amount(errors: _RowErrors, column: str, value: Any) -> Decimal | None:
    """A non-negative Decimal with at most 2 decimals; floats go through repr (as typed)."""
    try:
        if isinstance(value, bool):
            raise TypeError
        amount = Decimal(repr(value) if value.__class__ is float else value)
        if not amount.is_finite():
            raise ValueError
    except (InvalidOperation, TypeError, ValueError):
        _number_error(errors, column, value)
        return None
    if amount < 0:
        errors.add(column, _("must not be negative (got %(value)s)") % {"value": amount})
        return None
    if amount > MAX_AMOUNT:
        errors.add(column, _("is too large (got %(value)s)") % {"value": amount})
        return None
    rounded = amount.quantize(CENT)
    if rounded != amount:
        errors.add(column, _("must have at most 2 decimals (got %(value)s)") % {"value": amount})
        return None
    return rounded


def _ordered_at(errors: _RowErrors, value: Any, latest: datetime) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.strip())
    except (AttributeError, TypeError, ValueError):
        if value is None or (isinstance(value, str) and not value.strip()):
            errors.add("ordered_at", _("is required"))
        else:
            errors.add(
                "ordered_at",
                _(
                    "must be an ISO 8601 date or date and time, e.g. 2024-05-31T14:05:00Z "
                    "(got %(v)r)"
                )
                % {"v": value},
            )
        return None
    # Naive times are UTC: shops export in UTC far more often than in the server's zone.
    parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    if parsed < EARLIEST:
        errors.add("ordered_at", _("must not be before 2000-01-01 (got %(v)s)") % {"v": value})
        return None
    if parsed > latest:
        errors.add("ordered_at", _("must not be in the future (got %(v)s)") % {"v": value})
        return None
    return parsed


_PRICE_TYPES = (str, int, Decimal)  # not bool, not float (floats take the slow path)


def _item(errors: _RowErrors, i: int, item: Any) -> dict | None:
    try:  # the common, valid item in as few steps as possible
        sku, name = item["sku"].strip(), (item.get("name") or "").strip()
        quantity, price = item["quantity"], item["price"]
        if price.__class__ in _PRICE_TYPES and quantity.__class__ is int and quantity > 0:
            price = Decimal(price)
            rounded = price.quantize(CENT)
            if sku and len(sku) <= 100 and len(name) <= 300 and 0 <= rounded == price <= MAX_AMOUNT:
                return {"sku": sku, "name": name, "quantity": quantity, "price": str(rounded)}
    except (AttributeError, KeyError, TypeError, ArithmeticError):
        pass
    return _item_checked(errors, i, item)


def _item_checked(errors: _RowErrors, i: int, item: Any) -> dict | None:
    """The same checks as :func:`_item`, one by one, with a reason for each failure."""
    col = f"items.{i}"
    if not isinstance(item, dict):
        errors.add(col, _("must be an object with sku, name, quantity and price"))
        return None
    before = len(errors)
    sku = _text(errors, item.get("sku"), f"{col}.sku", 100)
    if sku is None and f"{col}.sku" not in errors:
        errors.add(f"{col}.sku", _("is required (text)"))
    name = _text(errors, item.get("name"), f"{col}.name", 300) or ""
    quantity = item.get("quantity")
    if quantity.__class__ is not int or quantity <= 0:
        errors.add(f"{col}.quantity", _("must be a whole number greater than 0"))
    price = _amount(errors, f"{col}.price", item.get("price"))
    if len(errors) > before:
        return None
    return {"sku": sku, "name": name, "quantity": quantity, "price": str(price)}


def _json_decode(text: str) -> Any:
    try:  # the usual "[...]" without surrounding blanks: skip json's whitespace scanning
        value, end = _JSON.raw_decode(text)
        if end == len(text):
            return value
    except ValueError:
        pass
    return _JSON.decode(text)  # the general case, and the error message


def _items(errors: _RowErrors, value: Any) -> tuple[list[dict], str | None]:
    """The normalised items, and the JSON text they came in when it needs no rewriting."""
    text = None
    if value.__class__ is str:
        if not value.strip():
            return [], None
        try:
            text, value = value, _json_decode(value)
        except ValueError as exc:
            errors.add("items", _("must be a JSON list of items (%(error)s)") % {"error": exc})
            return [], None
    if value is None:
        return [], None
    if not isinstance(value, list):
        errors.add("items", _("must be a list of {sku, name, quantity, price} objects"))
        return [], None
    if len(value) > MAX_ITEMS:
        errors.add("items", _("must hold at most %(n)d items") % {"n": MAX_ITEMS})
        return [], None
    items = [_item(errors, i, item) for i, item in enumerate(value)]
    if None in items:
        return [], None
    # Already in normal form (prices as strings with 2 decimals, no extra keys): keep the text
    # and spare re-encoding it — most exports are, and this runs for every row of an import.
    return items, (text if text is not None and items == value else None)


# Django's own e-mail rules (validators.EmailValidator), applied without its lazy regex proxies
# and with the domain check cached: an import has many addresses but few domains.
_EMAIL_LOCAL = re.compile(EmailValidator.user_regex.pattern, re.IGNORECASE)


@lru_cache(maxsize=4096)
def _email_domain_ok(domain: str) -> bool:
    return domain in validate_email.domain_allowlist or validate_email.validate_domain_part(domain)


def _email_ok(email: str) -> bool:
    local, at, domain = email.rpartition("@")
    return bool(at) and _EMAIL_LOCAL.match(local) is not None and _email_domain_ok(domain)


def order_row_validate(row: Mapping[str, Any], *, now: datetime | None = None) -> ValidOrder:
    """One order from CSV, JSON Lines, the API or the webhook. Unknown keys are ignored.

    Raises ``ValidationError({column: [reason, ...]})``; never anything else for bad input.
    """
    if not isinstance(row, Mapping):
        raise ValidationError({"body": [_("must be an object")]})
    errors = _RowErrors()
    get = row.get
    external_id = _text(errors, get("external_id"), "external_id", 120)
    if external_id is None and "external_id" not in errors:
        errors.add("external_id", _("is required"))
    customer_external_id = _text(errors, get("customer_external_id"), "customer_external_id", 120)
    email = _text(errors, get("customer_email"), "customer_email", 254)
    if email is not None:
        email = email.lower()
        if not _email_ok(email):
            errors.add(
                "customer_email", _("is not a valid e-mail address (got %(v)r)") % {"v": email}
            )
    elif customer_external_id is None and "customer_external_id" not in errors:
        if "customer_email" not in errors:
            errors.add("customer_email", _("customer_external_id or customer_email is required"))
    latest = (now or timezone.now()) + timedelta(days=1)
    ordered_at = _ordered_at(errors, get("ordered_at"), latest)
    currency = get("currency")
    if currency.__class__ is str and currency.strip().upper() in CURRENCIES:
        currency = currency.strip().upper()
    elif currency is None or (isinstance(currency, str) and not currency.strip()):
        errors.add("currency", _("is required"))
    else:
        errors.add(
            "currency",
            _("must be an ISO 4217 currency code such as EUR (got %(v)r)") % {"v": currency},
        )
    total = _amount(errors, "total", get("total"))
    items, items_json = _items(errors, get("items"))
    channel = _text(errors, get("channel"), "channel", 40) or ""
    referral_code = _text(errors, get("referral_code"), "referral_code", 64) or ""
    if errors:
        raise ValidationError(dict(errors))
    return ValidOrder(
        external_id,
        customer_external_id,
        email,
        ordered_at,
        currency,
        total,
        items,
        channel,
        referral_code,
        items_json,
    )


def validation_reason(exc: ValidationError) -> str:
    """One line for a report: ``total: must not be negative (got -5); currency: …``."""
    if hasattr(exc, "error_dict"):
        return "; ".join(f"{col}: {msg}" for col, msgs in exc.message_dict.items() for msg in msgs)
    return "; ".join(exc.messages)


# --- Writing ------------------------------------------------------------------------------------
# Plain SQL for the lookups and inserts of a batch: the same statements the ORM would write,
# without compiling a 900-value IN list or building a model instance per row — this is the
# import's hot path (benchmarks/orders_import.py). Only our own table and column names go into
# the SQL text; values are always parameters, adapted by the backend's own ``connection.ops``.


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _select_in(select: str, column: str, values: set[str], extra: str = "") -> list[tuple]:
    rows: list[tuple] = []
    if not values:
        return rows
    ordered = sorted(values)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # one array parameter, not 900 placeholders
            cursor.execute(f"{select} WHERE {extra}{column} = ANY(%s)", [ordered])
            return cursor.fetchall()
        for start in range(0, len(ordered), LOOKUP_CHUNK):
            chunk = ordered[start : start + LOOKUP_CHUNK]
            marks = ", ".join(["%s"] * len(chunk))
            cursor.execute(f"{select} WHERE {extra}{column} IN ({marks})", chunk)
            rows.extend(cursor.fetchall())
    return rows


def _existing_orders(ext_ids: set[str]) -> set[str]:
    table = _q(Order._meta.db_table)
    column = _q("external_id")
    return {r[0] for r in _select_in(f"SELECT {column} FROM {table}", column, ext_ids)}  # noqa: S608


def _max_order_id() -> int:
    return Order.objects.aggregate(m=Max("pk"))["m"] or 0


def _customers_by_external_id(ext_ids: set[str]) -> dict[str, int]:
    table, ext = _q(Customer._meta.db_table), _q("external_id")
    select = f"SELECT {_q('id')}, {ext}, {_q('merged_into_id')} FROM {table}"  # noqa: S608
    # A merged-away record hands its orders to the record it was merged into.
    return {e: merged_into or pk for pk, e, merged_into in _select_in(select, ext, ext_ids)}


def _customers_by_email(emails: set[str]) -> dict[str, int]:
    table, lower = _q(Customer._meta.db_table), f"LOWER({_q('email')})"
    # The same predicate as the partial unique index, so the lookup can use it.
    live = f"{_q('deleted_at')} IS NULL AND {_q('email')} IS NOT NULL AND "
    select = f"SELECT {_q('id')}, {lower} FROM {table}"  # noqa: S608
    return {e: pk for pk, e in _select_in(select, lower, emails, extra=live)}


def _insert(table: str, columns: list[str], rows: list[tuple], on_conflict: str) -> None:
    """``INSERT … ON CONFLICT …`` of many rows: executemany on SQLite (in-process, one prepared
    statement); on PostgreSQL ``COPY`` into a scratch table, then one ``INSERT … SELECT`` (a
    statement per row, or a client-side bound multi-row VALUES, costs several times more)."""
    cols = ", ".join(_q(c) for c in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            marks = ", ".join(["%s"] * len(columns))
            cursor.executemany(
                f"INSERT INTO {_q(table)} ({cols}) VALUES ({marks}) {on_conflict}",  # noqa: S608
                rows,
            )
            return
        scratch = f"scratch_{table}"
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {_q(scratch)} ON COMMIT DROP AS "  # noqa: S608
            f"SELECT {cols} FROM {_q(table)} WITH NO DATA"
        )
        cursor.execute(f"TRUNCATE {_q(scratch)}")
        _copy(scratch, columns, rows)
        cursor.execute(
            f"INSERT INTO {_q(table)} ({cols}) SELECT {cols} FROM {_q(scratch)} {on_conflict}"  # noqa: S608
        )


def _copy(table: str, columns: list[str], rows: list[tuple]) -> None:
    """PostgreSQL ``COPY … FROM STDIN``; driver errors become Django's (IntegrityError, …)."""
    cols = ", ".join(_q(c) for c in columns)
    with (
        connection.wrap_database_errors,
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {_q(table)} ({cols}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


class _NewCustomer:
    __slots__ = ("email", "external_id", "pk")

    def __init__(self, external_id: str | None, email: str | None) -> None:
        self.external_id, self.email, self.pk = external_id, email, None


def _customers_create(new: list[_NewCustomer]) -> None:
    """Insert the new customers (every other column at its model default) and set their pk."""
    fields = [f for f in Customer._meta.concrete_fields if not f.primary_key]
    # The defaults are adapted once per batch; only the two identifying columns vary per row.
    template = Customer(lifecycle_stage=LifecycleStage.CUSTOMER)
    base = [f.get_db_prep_save(f.pre_save(template, True), connection) for f in fields]
    columns = [f.column for f in fields]
    at_ext, at_email = columns.index("external_id"), columns.index("email")
    values = []
    for customer in new:
        row = list(base)
        row[at_ext], row[at_email] = customer.external_id, customer.email
        values.append(tuple(row))
    # Conflicts ignored: a concurrent import may have created the same customer a moment ago;
    # the re-read below then picks up that row instead of failing the batch.
    _insert(Customer._meta.db_table, columns, values, "ON CONFLICT DO NOTHING")
    by_ext = _customers_by_external_id({c.external_id for c in new} - {None})
    by_email = _customers_by_email({c.email for c in new} - {None})
    for customer in new:
        customer.pk = by_ext.get(customer.external_id) or by_email.get(customer.email)


def _resolve_customers(rows: list[ValidOrder], known: dict[str, int]) -> list[int | None]:
    """Customer id per row: by external id, then by e-mail; missing customers are created.

    ``known`` (external id → customer id) carries what earlier batches of the same import
    learnt, so each customer is looked up once per import rather than once per batch.
    """
    wanted = {r.customer_external_id for r in rows} - {None}
    by_ext = {ext: known[ext] for ext in wanted if ext in known}
    by_ext.update(_customers_by_external_id(wanted - by_ext.keys()))
    # E-mails only matter for rows whose external id found nobody (or that have none).
    by_email = _customers_by_email(
        {r.customer_email for r in rows if r.customer_external_id not in by_ext} - {None}
    )
    new: list[_NewCustomer] = []
    new_by_ext: dict[str, _NewCustomer] = {}
    new_by_email: dict[str, _NewCustomer] = {}
    fill_ext: dict[int, str] = {}  # customers found by e-mail that lack the external id
    targets: list[int | _NewCustomer] = []
    for row in rows:
        ext, email = row.customer_external_id, row.customer_email
        target = (by_ext.get(ext) or new_by_ext.get(ext)) if ext else None
        if target is None and email:
            target = by_email.get(email) or new_by_email.get(email)
            if target is not None and ext:
                if isinstance(target, _NewCustomer):
                    if target.external_id is None:
                        target.external_id = ext
                        new_by_ext[ext] = target
                elif target not in fill_ext:
                    fill_ext[target] = ext
                    by_ext[ext] = target
        if target is None:
            target = _NewCustomer(ext, email)
            new.append(target)
            if ext:
                new_by_ext[ext] = target
            if email:
                new_by_email[email] = target
        targets.append(target)
    if fill_ext:
        _fill_external_ids(fill_ext)
    if new:
        _customers_create(new)
    ids = [t.pk if isinstance(t, _NewCustomer) else t for t in targets]
    if len(known) > KNOWN_CUSTOMERS_MAX:
        known.clear()  # bounded memory; the next batches simply look customers up again
    for row, pk in zip(rows, ids, strict=True):
        if row.customer_external_id and pk:
            known[row.customer_external_id] = pk
    return ids


def _fill_external_ids(fill_ext: dict[int, str]) -> None:
    customers = list(Customer.objects.filter(pk__in=list(fill_ext), external_id__isnull=True))
    for customer in customers:
        customer.external_id = fill_ext[customer.pk]
    Customer.objects.bulk_update(customers, ["external_id"])


_ORDER_COLUMNS = (
    "external_id",
    "customer_id",
    "ordered_at",
    "currency",
    "total",
    "items",
    "channel",
    "referral_code",
    "created_at",
    "updated_at",
)


def _time_adapter():
    if connection.vendor == "sqlite":
        # What SQLite's ops.adapt_datetimefield_value returns for an aware UTC time, without its
        # per-call settings and zone checks: every time here is already UTC.
        return lambda value: value.replace(tzinfo=None).isoformat(" ")
    return connection.ops.adapt_datetimefield_value


def _upsert_conflict() -> str:
    updates = ", ".join(
        f"{_q(c)} = EXCLUDED.{_q(c)}"
        for c in _ORDER_COLUMNS
        if c not in ("external_id", "created_at")
    )
    return f"ON CONFLICT ({_q('external_id')}) DO UPDATE SET {updates}"


def orders_upsert(
    *,
    rows: list[ValidOrder],
    source: str,
    outcomes: bool = True,
    known_customers: dict[str, int] | None = None,
) -> UpsertResult:
    """Create or update orders by external id, in one transaction (all rows or none).

    ``source`` ("import", "webhook", "api") names the way in, for the log. With
    ``outcomes=False`` (file imports) only the counts are filled in, which on SQLite saves
    looking up every external id first. ``known_customers``: a dict an import keeps across its
    batches (external id → customer id), filled in here.
    """
    result = UpsertResult()
    if not rows:
        return result
    ops = connection.ops
    count_by_id = not outcomes and connection.vendor == "sqlite"
    with transaction.atomic():
        if count_by_id:
            # SQLite has one writer, and this transaction is it (BEGIN IMMEDIATE); ids only
            # grow (AUTOINCREMENT), so every id above today's maximum is a row created here.
            before = _max_order_id()
        else:
            existing = _existing_orders({r.external_id for r in rows})
            seen = set(existing)
            for row in rows:
                result.outcomes.append("updated" if row.external_id in seen else "created")
                seen.add(row.external_id)
            result.created = result.outcomes.count("created")
        customer_ids = _resolve_customers(rows, {} if known_customers is None else known_customers)
        adapt_time = _time_adapter()
        now = adapt_time(timezone.now())
        # Later rows win: one statement may not touch the same key twice (PostgreSQL refuses).
        latest: dict[str, tuple] = {}
        for row, customer_id in zip(rows, customer_ids, strict=True):
            latest[row.external_id] = (
                row.external_id,
                customer_id,
                adapt_time(row.ordered_at),
                row.currency,
                ops.adapt_decimalfield_value(row.total, 14, 2),
                row.items_json or ops.adapt_json_value(row.items, None),
                row.channel,
                row.referral_code,
                now,
                now,
            )
        # Sorted by customer: the two customer indexes are then written in one sweep, not at
        # 5000 random places (a third less time on SQLite once the table outgrows its cache).
        values = sorted(latest.values(), key=lambda r: r[1] or 0)
        if not outcomes and connection.vendor == "postgresql":
            # File imports: orders that were not there a moment ago go straight in with COPY
            # (no scratch table, no conflict check). Should another writer add one meanwhile,
            # the batch fails as a whole and the importer retries its rows one by one.
            _copy(Order._meta.db_table, _ORDER_COLUMNS, [v for v in values if v[0] not in existing])
            values = [v for v in values if v[0] in existing]
        if values:
            _insert(Order._meta.db_table, _ORDER_COLUMNS, values, _upsert_conflict())
        if count_by_id:
            result.created = Order.objects.filter(pk__gt=before).count()
    # A repeated external id counts as created once, then updated (as if sent one by one).
    result.updated = len(rows) - result.created
    logger.debug(
        "orders_upsert(%s): %d created, %d updated", source, result.created, result.updated
    )
    return result


def order_upsert_one(*, row: ValidOrder, source: str, actor=None) -> tuple[Order, bool]:
    """Upsert one order (the API); returns it and whether it was created. Audited."""
    from apiary.accounts.services import audit_record

    with transaction.atomic():
        result = orders_upsert(rows=[row], source=source)
        order = Order.objects.get(external_id=row.external_id)
        audit_record(
            actor=actor,
            action="order.create" if result.created else "order.update",
            target_type="order",
            target_id=order.pk,
            summary=f"{order.external_id}: {order.total} {order.currency} ({source})",
        )
    return order, result.created == 1
