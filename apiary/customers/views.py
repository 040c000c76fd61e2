"""Staff pages for customers: list, profile, edit, identities, review queue, merge and privacy.

Views translate HTTP into service calls. Every customer is read through ``customers.access``
(which checks permission and writes the audit entry); writes go through the services.
"""

from __future__ import annotations

import csv
import json
import re
from datetime import datetime

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import OuterRef, Subquery
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from apiary.accounts.access import Perm, permission_required
from apiary.accounts.services import audit_record
from apiary.core.times import assume_utc
from apiary.customers import access, selectors, timeline
from apiary.customers.forms import (
    CustomerEditForm,
    CustomerFilterForm,
    EraseConfirmForm,
    IdentityAddForm,
    MergeTargetForm,
    SuggestionAcceptForm,
)
from apiary.customers.models import IdentitySuggestion, Order, SocialIdentity, Touchpoint

PER_PAGE = 50
TIMELINE_PAGE = 20
LATEST_ORDERS = 20
CSV_COLUMNS = (
    "id", "name", "email", "phone", "country", "city", "language", "lifecycle_stage", "tags",
    "orders", "orders_total", "currency", "last_order_at", "identities", "created_at",
)  # fmt: skip
# Phone numbers are validated to these characters, so a leading "+" is not a formula.
_PLAIN_PHONE = re.compile(r"^\+?[0-9 ().-]*$")


def _errors_to_form(form, exc: ValidationError) -> None:
    """Show a service's ValidationError next to the field it names (or above the form)."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for field, msgs in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, msgs)


def _htmx_aware(response: HttpResponse) -> HttpResponse:
    # The same URL answers a fragment to htmx and a page to the browser: caches must tell apart.
    patch_vary_headers(response, ["HX-Request"])
    return response


# --- List -------------------------------------------------------------------------------------


def _filtered_customers(request: HttpRequest):
    segments = list(selectors.segment_list())
    form = CustomerFilterForm(request.GET or None, segments=segments)
    form.is_valid()  # an invalid filter is shown with its error and ignored, not a 500
    data = getattr(form, "cleaned_data", {}) or {}
    segment = next((s for s in segments if s.slug == data.get("segment")), None)
    qs = selectors.customer_list(
        search=data.get("q") or None,
        filters=form.segment_filters() if form.is_bound else None,
        segment=segment,
    )
    # orders_total adds up the customer's orders as stored; show it with their currency (one per
    # customer in practice: a shop charges a country in one currency).
    currency = Order.objects.filter(customer_id=OuterRef("pk")).order_by("-ordered_at")
    return form, qs.annotate(currency=Subquery(currency.values("currency")[:1]))


@permission_required(Perm.CUSTOMERS_VIEW)
def customer_list_view(request: HttpRequest) -> HttpResponse:
    form, qs = _filtered_customers(request)
    page = Paginator(qs, PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "query": query.urlencode(),
        "section": "customers",
    }
    template = "customers/_list_table.html" if request.htmx else "customers/list.html"
    return _htmx_aware(render(request, template, context))


class _Echo:
    def write(self, value):
        return value


def _csv_safe(value) -> str:
    # A cell starting with = + - @ is a formula to spreadsheets; names come from public forms.
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@permission_required(Perm.CUSTOMERS_VIEW)
def customer_export_csv_view(request: HttpRequest) -> StreamingHttpResponse:
    _form, qs = _filtered_customers(request)
    audit_record(
        actor=request.user,
        action="customers.export_csv",
        target_type="customer_list",
        target_id="filtered",
        summary=request.GET.urlencode()[:300],
    )
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(CSV_COLUMNS)
        for c in qs.iterator(chunk_size=2000):
            yield writer.writerow(
                [
                    c.pk,
                    _csv_safe(c.name),
                    _csv_safe(c.email),
                    c.phone if _PLAIN_PHONE.match(c.phone or "") else _csv_safe(c.phone),
                    c.country,
                    _csv_safe(c.city),
                    c.language,
                    c.lifecycle_stage,
                    _csv_safe(";".join(c.tags or [])),
                    c.orders_count,
                    c.orders_total or 0,
                    c.currency or "",
                    c.last_order_at.isoformat() if c.last_order_at else "",
                    c.identity_count,
                    c.created_at.isoformat(),
                ]
            )

    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="customers-{stamp}.csv"'
    return response


# --- Profile ----------------------------------------------------------------------------------


def _timeline_params(request: HttpRequest):
    """(selected kinds or None for all, the before-cursor or None); ValueError when malformed."""
    known = [k.name for k in timeline.kinds()]
    picked = [k for k in request.GET.getlist("kind") if k in known]
    before = None
    if request.GET.get("before"):
        before = assume_utc(datetime.fromisoformat(request.GET["before"]))
    return (picked or None), before


def _timeline_context(customer, family_ids, kinds, before) -> dict:
    events, cursor = selectors.timeline_page(
        customer_ids=family_ids, kinds=kinds, before=before, limit=TIMELINE_PAGE
    )
    labels = {k.name: k.label for k in timeline.kinds()}
    kind_query = "".join(f"&kind={k}" for k in kinds or [])
    return {
        "customer": customer,
        "events": [{"event": e, "label": labels.get(e.kind, e.kind)} for e in events],
        "next_before": cursor.isoformat() if cursor else "",
        "kind_query": kind_query,
        "timeline_kinds": timeline.kinds(),
        "selected_kinds": kinds or [],
    }


def _detail_context(request: HttpRequest, customer, **forms) -> dict:
    family_ids = selectors.customer_family_ids(customer=customer)
    try:
        kinds, before = _timeline_params(request)
    except ValueError:
        kinds, before = None, None  # a mangled link shows the newest events, not an error
    identities = selectors.customer_identities(customer=customer, include_withdrawn=True)
    orders = selectors.customer_orders(customer_ids=family_ids)[:LATEST_ORDERS]
    return {
        "customer": customer,
        "value": selectors.customer_value(customer_ids=family_ids),
        "identities": identities,
        "orders": orders,
        "identity_form": forms.get("identity_form")
        or IdentityAddForm(initial={"touchpoint": Touchpoint.SUPPORT_FORM}),
        "section": "customers",
        **_timeline_context(customer, family_ids, kinds, before),
    }


@permission_required(Perm.CUSTOMERS_VIEW)
def customer_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    customer = access.customer_for_view(user=request.user, customer_id=pk)
    if customer.pk != pk:  # the chokepoint followed a merge to the record that lives on
        messages.info(request, _("#%(old)s was merged into this record.") % {"old": pk})
        return redirect("customers:detail", pk=customer.pk)
    try:
        context = _detail_context(request, customer)
    except ValueError:
        return HttpResponseBadRequest(_("The timeline cursor is not a valid date and time."))
    return render(request, "customers/detail.html", context)


@permission_required(Perm.CUSTOMERS_VIEW)
def customer_timeline_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The htmx fragment behind the kind filter and "load more"."""
    customer = access.customer_for_view(user=request.user, customer_id=pk, audit=False)
    try:
        kinds, before = _timeline_params(request)
    except ValueError:
        return HttpResponseBadRequest(_("The timeline cursor is not a valid date and time."))
    family_ids = selectors.customer_family_ids(customer=customer)
    context = _timeline_context(customer, family_ids, kinds, before)
    return _htmx_aware(render(request, "customers/_timeline_items.html", context))


@permission_required(Perm.CUSTOMERS_EDIT)
def customer_edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    from apiary.customers.services.customers import customer_update

    customer = access.customer_for_edit(user=request.user, customer_id=pk)
    form = CustomerEditForm(request.POST or None, initial=CustomerEditForm.initial_for(customer))
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                customer_update(customer=customer, actor=request.user, **form.changes())
            except ValidationError as exc:
                _errors_to_form(form, exc)
            else:
                messages.success(request, _("Customer saved."))
                return redirect("customers:detail", pk=customer.pk)
        status = 400
    context = {"customer": customer, "form": form, "section": "customers"}
    return render(request, "customers/edit.html", context, status=status)


# --- Identities -------------------------------------------------------------------------------


@permission_required(Perm.CUSTOMERS_EDIT)
@require_POST
def identity_add_view(request: HttpRequest, pk: int) -> HttpResponse:
    from apiary.customers.services.identities import identity_link

    customer = access.customer_for_edit(user=request.user, customer_id=pk)
    form = IdentityAddForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            identity_link(
                customer=customer,
                platform=data["platform"],
                handle=data["handle"],
                touchpoint=data["touchpoint"],
                consent_text=data["consent_text"],
                actor=request.user,
            )
        except ValidationError as exc:  # a bad handle is a ValidationError on "handle"
            _errors_to_form(form, exc)
        else:
            messages.success(request, _("Account linked."))
            return redirect(reverse("customers:detail", args=[customer.pk]) + "#identities")
    context = _detail_context(request, customer, identity_form=form)
    return render(request, "customers/detail.html", context, status=400)


@permission_required(Perm.CUSTOMERS_EDIT)
@require_POST
def identity_withdraw_view(request: HttpRequest, pk: int, identity_id: int) -> HttpResponse:
    from apiary.customers.services.identities import identity_consent_withdraw

    customer = access.customer_for_edit(user=request.user, customer_id=pk)
    family_ids = selectors.customer_family_ids(customer=customer)
    identity = get_object_or_404(SocialIdentity, pk=identity_id, customer_id__in=family_ids)
    # Staff withdraw on the customer's request, which reaches them through support.
    identity_consent_withdraw(
        identity=identity, touchpoint=Touchpoint.SUPPORT_FORM, actor=request.user
    )
    messages.success(request, _("Consent withdrawn: the account is no longer linked."))
    return redirect(reverse("customers:detail", args=[customer.pk]) + "#identities")


# --- Review queue -----------------------------------------------------------------------------


@permission_required(Perm.CUSTOMERS_VIEW)
def review_view(request: HttpRequest) -> HttpResponse:
    qs = selectors.suggestion_list(status=IdentitySuggestion.Status.PENDING)
    page = Paginator(qs, PER_PAGE).get_page(request.GET.get("page"))
    for suggestion in page.object_list:
        # Reasons are stored in English ("same name and city; similar handle").
        suggestion.reason_display = "; ".join(_(r) for r in suggestion.reason.split("; "))
    return render(
        request,
        "customers/review.html",
        {"page": page, "accept_form": SuggestionAcceptForm(), "section": "customers"},
    )


def _pending_suggestion(request: HttpRequest, suggestion_id: int) -> IdentitySuggestion:
    suggestion = get_object_or_404(
        IdentitySuggestion, pk=suggestion_id, status=IdentitySuggestion.Status.PENDING
    )
    access.customer_for_edit(user=request.user, customer_id=suggestion.customer_id)
    return suggestion


@permission_required(Perm.CUSTOMERS_EDIT)
@require_POST
def suggestion_accept_view(request: HttpRequest, suggestion_id: int) -> HttpResponse:
    from apiary.customers.services.resolution import suggestion_accept

    suggestion = _pending_suggestion(request, suggestion_id)
    form = SuggestionAcceptForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Write how the customer confirmed the account to accept it."))
        return redirect("customers:review")
    try:
        suggestion_accept(
            suggestion=suggestion,
            actor=request.user,
            consent_text=form.cleaned_data["consent_text"],
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            _("%(handle)s is now linked to %(customer)s.")
            % {"handle": suggestion.handle, "customer": suggestion.customer},
        )
    return redirect("customers:review")


@permission_required(Perm.CUSTOMERS_EDIT)
@require_POST
def suggestion_reject_view(request: HttpRequest, suggestion_id: int) -> HttpResponse:
    from apiary.customers.services.resolution import suggestion_reject

    suggestion = _pending_suggestion(request, suggestion_id)
    suggestion_reject(suggestion=suggestion, actor=request.user)
    messages.success(request, _("Suggestion rejected."))
    return redirect("customers:review")


# --- Merge ------------------------------------------------------------------------------------


def _merge_target(request: HttpRequest, form: MergeTargetForm, source):
    raw = form.cleaned_data["target"].strip().lstrip("#")
    if raw.isdigit():
        target_id = int(raw)
    else:
        live = selectors.customer_list().filter(email__iexact=raw)
        target_id = live.values_list("pk", flat=True).first()
    if target_id is None:
        form.add_error("target", _("No customer with this id or e-mail."))
        return None
    try:
        target = access.customer_for_edit(user=request.user, customer_id=target_id)
    except Http404:
        form.add_error("target", _("No customer with this id or e-mail."))
        return None
    if target.pk == source.pk:  # the id of a record already merged into this one
        form.add_error("target", _("Choose another customer: a record cannot merge into itself."))
        return None
    return target


@permission_required(Perm.CUSTOMERS_EDIT)
def customer_merge_view(request: HttpRequest, pk: int) -> HttpResponse:
    from apiary.customers.services.merge import customer_merge, customer_merge_preview

    source = access.customer_for_edit(user=request.user, customer_id=pk)
    if source.pk != pk:
        return redirect("customers:merge", pk=source.pk)
    data = request.POST if request.method == "POST" else None
    if data is None and "target" in request.GET:
        data = request.GET
    form = MergeTargetForm(data)
    target = preview = None
    status = 200
    if form.is_bound and form.is_valid():
        target = _merge_target(request, form, source)
    if target is not None:
        try:
            if request.method == "POST" and request.POST.get("confirm") == "yes":
                customer_merge(source=source, target=target, actor=request.user)
                messages.success(
                    request,
                    _("#%(source)s was merged into #%(target)s.")
                    % {"source": source.pk, "target": target.pk},
                )
                return redirect("customers:detail", pk=target.pk)
            preview = customer_merge_preview(source=source, target=target)
        except ValidationError as exc:
            _errors_to_form(form, exc)
            target = None
    if form.is_bound and form.errors:
        status = 400
    context = {
        "customer": source,
        "form": form,
        "target": target,
        "preview": preview,
        "section": "customers",
    }
    return render(request, "customers/merge.html", context, status=status)


# --- Privacy ----------------------------------------------------------------------------------


@permission_required(Perm.PRIVACY_MANAGE)
def customer_privacy_export_view(request: HttpRequest, pk: int) -> HttpResponse:
    from apiary.customers.services.privacy import customer_export

    customer = access.customer_for_privacy(user=request.user, customer_id=pk)
    data = customer_export(customer=customer, actor=request.user)
    response = HttpResponse(
        json.dumps(data, ensure_ascii=False, indent=2, default=str),
        content_type="application/json; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="customer-{customer.pk}.json"'
    return response


@permission_required(Perm.PRIVACY_MANAGE)
def customer_erase_view(request: HttpRequest, pk: int) -> HttpResponse:
    from apiary.customers.services.privacy import customer_erase

    customer = access.customer_for_privacy(user=request.user, customer_id=pk)
    form = EraseConfirmForm(request.POST or None, customer_id=customer.pk)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                customer_erase(customer=customer, actor=request.user)
            except ValidationError as exc:
                _errors_to_form(form, exc)
            else:
                messages.success(request, _("Customer #%(id)s was erased.") % {"id": customer.pk})
                return redirect("customers:list")
        status = 400
    context = {"customer": customer, "form": form, "section": "customers"}
    return render(request, "customers/erase.html", context, status=status)
