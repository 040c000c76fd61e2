"""Customers API: customers, identities, value, timeline, privacy, merge, segments, the identity
review queue, organisations and custom fields. Handlers only translate HTTP: reads go through
``customers.access`` (permission + audit), writes through the services."""

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Query, Router, Status
from ninja.pagination import paginate

from apiary.accounts.access import Perm, api_user
from apiary.core.errors import ApiError
from apiary.core.pagination import LimitOffset
from apiary.core.times import assume_utc
from apiary.customers import access, segments, selectors, timeline
from apiary.customers.api_schemas import (
    CustomerIn,
    CustomerListOut,
    CustomerListQuery,
    CustomerOut,
    CustomerPatch,
    CustomerValueOut,
    CustomFieldIn,
    CustomFieldOut,
    EraseIn,
    IdentityIn,
    IdentityOut,
    MergeIn,
    OrganisationIn,
    OrganisationOut,
    SegmentIn,
    SegmentOut,
    SegmentPatch,
    SuggestionAcceptIn,
    SuggestionOut,
    TimelineOut,
    TimelineQuery,
    money,
)
from apiary.customers.models import IdentitySuggestion, Segment, SocialIdentity, Touchpoint
from apiary.customers.services import customers as customer_services
from apiary.customers.services import identities, merge, privacy, resolution

router = Router(tags=["customers"])


# --- Customers -----------------------------------------------------------------------------------


@router.get("/customers", response=list[CustomerListOut])
@paginate(LimitOffset)
def customer_list(request, q: Query[CustomerListQuery]):
    access.customers_require(api_user(request), Perm.CUSTOMERS_VIEW)
    data = q.model_dump(exclude_none=True, exclude={"segment", "sort"}, mode="json")
    qs = selectors.customer_list(filters=data or None, segment=q.segment)
    return selectors.customer_list_sort(qs, q.sort)


@router.post("/customers", response={201: CustomerOut})
def customer_create(request, payload: CustomerIn):
    user = api_user(request)
    access.customers_require(user, Perm.CUSTOMERS_EDIT)
    data = payload.model_dump()
    data["organisation"] = data.pop("organisation_id")
    customer = customer_services.customer_create(actor=user, **data)
    return Status(201, customer)


@router.get("/customers/{customer_id}", response=CustomerOut)
def customer_detail(request, customer_id: int):
    return access.customer_for_view(user=api_user(request), customer_id=customer_id)


@router.patch("/customers/{customer_id}", response=CustomerOut)
def customer_update(request, customer_id: int, payload: CustomerPatch):
    user = api_user(request)
    customer = access.customer_for_edit(user=user, customer_id=customer_id)
    fields = payload.model_dump(exclude_unset=True)
    if "organisation_id" in fields:
        fields["organisation"] = fields.pop("organisation_id")
    return customer_services.customer_update(customer=customer, actor=user, **fields)


@router.delete("/customers/{customer_id}", response={204: None})
def customer_delete(request, customer_id: int):
    user = api_user(request)
    customer = access.customer_for_edit(user=user, customer_id=customer_id)
    customer_services.customer_soft_delete(customer=customer, actor=user)
    return Status(204, None)


@router.get("/customers/{customer_id}/value", response=CustomerValueOut)
def customer_value(request, customer_id: int):
    customer = access.customer_for_view(user=api_user(request), customer_id=customer_id)
    value = selectors.customer_value(customer_ids=selectors.customer_family_ids(customer=customer))
    for row in value["by_currency"]:
        row["total"], row["aov"] = money(row["total"]), money(row["aov"])
    return value


@router.get("/customers/{customer_id}/identities", response=list[IdentityOut])
@paginate(LimitOffset)
def identity_list(request, customer_id: int, include_withdrawn: bool = True):
    customer = access.customer_for_view(user=api_user(request), customer_id=customer_id)
    return selectors.customer_identities(customer=customer, include_withdrawn=include_withdrawn)


@router.post("/customers/{customer_id}/identities", response={201: IdentityOut})
def identity_link(request, customer_id: int, payload: IdentityIn):
    user = api_user(request)
    customer = access.customer_for_edit(user=user, customer_id=customer_id)
    identity = identities.identity_link(
        customer=customer, actor=user, **payload.model_dump(mode="json")
    )
    return Status(201, _identity(identity.pk))


def _identity(identity_id: int) -> SocialIdentity:
    return selectors.identity_get(identity_id=identity_id)


@router.post("/customers/{customer_id}/identities/{identity_id}/withdraw", response=IdentityOut)
def identity_withdraw(
    request, customer_id: int, identity_id: int, touchpoint: Touchpoint = Touchpoint.API
):
    user = api_user(request)
    customer = access.customer_for_edit(user=user, customer_id=customer_id)
    identity = get_object_or_404(SocialIdentity, pk=identity_id, customer=customer)
    identities.identity_consent_withdraw(identity=identity, touchpoint=str(touchpoint), actor=user)
    return _identity(identity.pk)


@router.get("/customers/{customer_id}/timeline", response=TimelineOut)
def customer_timeline(request, customer_id: int, q: Query[TimelineQuery]):
    customer = access.customer_for_view(user=api_user(request), customer_id=customer_id)
    kinds = None
    if q.kinds:
        kinds = [k.strip() for k in q.kinds.split(",") if k.strip()]
        known = {k.name for k in timeline.kinds()}
        unknown = [k for k in kinds if k not in known]
        if unknown:
            raise ValidationError(
                {
                    "kinds": [
                        _("Unknown event kind %(kind)s; use %(known)s.")
                        % {"kind": unknown[0], "known": ", ".join(sorted(known))}
                    ]
                }
            )
    before = assume_utc(q.before)
    events, next_before = selectors.timeline_page(
        customer_ids=selectors.customer_family_ids(customer=customer),
        kinds=kinds,
        before=before,
        limit=q.limit,
    )
    items = [e.as_dict() for e in events]
    return {"items": items, "next_before": next_before}


@router.get("/customers/{customer_id}/export", response=dict)
def customer_export(request, customer_id: int):
    user = api_user(request)
    customer = access.customer_for_privacy(user=user, customer_id=customer_id)
    return privacy.customer_export(customer=customer, actor=user)


@router.post("/customers/{customer_id}/erase", response=CustomerOut)
def customer_erase(request, customer_id: int, payload: EraseIn):
    user = api_user(request)
    customer = access.customer_for_privacy(user=user, customer_id=customer_id)
    if payload.confirm.strip() != str(customer.pk):
        raise ValidationError(
            {"confirm": [_("Type the customer's id (%(id)s) to confirm.") % {"id": customer.pk}]}
        )
    return privacy.customer_erase(customer=customer, actor=user)


def _merge_pair(request, customer_id: int, into: int):
    user = api_user(request)
    source = access.customer_for_edit(user=user, customer_id=customer_id, follow_merged=False)
    if source.merged_into_id is not None:
        raise ApiError(409, "already_merged", _("This customer has already been merged."))
    target = access.customer_for_edit(user=user, customer_id=into)
    if target.pk == source.pk:
        raise ValidationError({"into": [_("A customer cannot be merged into itself.")]})
    return user, source, target


@router.get("/customers/{customer_id}/merge-preview", response=dict)
def customer_merge_preview(request, customer_id: int, into: int):
    _actor, source, target = _merge_pair(request, customer_id, into)
    return merge.customer_merge_preview(source=source, target=target)


@router.post("/customers/{customer_id}/merge", response=CustomerOut)
def customer_merge(request, customer_id: int, payload: MergeIn):
    user, source, target = _merge_pair(request, customer_id, payload.into)
    return merge.customer_merge(source=source, target=target, actor=user)


# --- Segments ------------------------------------------------------------------------------------


def _segment_out(segment: Segment) -> dict:
    return {
        "id": segment.pk,
        "name": segment.name,
        "slug": segment.slug,
        "description": segment.description,
        "filters": segment.filters,
        "created_at": segment.created_at,
        "count": selectors.segment_count(segment=segment),
    }


class _SegmentPagination(LimitOffset):
    # Counts are live, so they are computed for the page only, never for the whole list.
    def paginate_queryset(self, queryset, pagination, **params):
        page = super().paginate_queryset(queryset, pagination, **params)
        page["items"] = [_segment_out(s) for s in page["items"]]
        return page


@router.get("/segments", response=list[SegmentOut])
@paginate(_SegmentPagination)
def segment_list(request):
    access.customers_require(api_user(request), Perm.CUSTOMERS_VIEW)
    return selectors.segment_list()


@router.post("/segments", response={201: SegmentOut})
def segment_create(request, payload: SegmentIn):
    user = api_user(request)
    access.customers_require(user, Perm.CUSTOMERS_EDIT)
    segment = segments.segment_create(actor=user, **payload.model_dump())
    return Status(201, _segment_out(segment))


@router.get("/segments/{segment_id}", response=SegmentOut)
def segment_detail(request, segment_id: int):
    access.customers_require(api_user(request), Perm.CUSTOMERS_VIEW)
    return _segment_out(get_object_or_404(Segment, pk=segment_id))


@router.patch("/segments/{segment_id}", response=SegmentOut)
def segment_update(request, segment_id: int, payload: SegmentPatch):
    user = api_user(request)
    access.customers_require(user, Perm.CUSTOMERS_EDIT)
    segment = get_object_or_404(Segment, pk=segment_id)
    segment = segments.segment_update(segment=segment, actor=user, **payload.model_dump())
    return _segment_out(segment)


@router.delete("/segments/{segment_id}", response={204: None})
def segment_delete(request, segment_id: int):
    user = api_user(request)
    access.customers_require(user, Perm.CUSTOMERS_EDIT)
    segments.segment_delete(segment=get_object_or_404(Segment, pk=segment_id), actor=user)
    return Status(204, None)


@router.get("/segments/{segment_id}/customers", response=list[CustomerListOut])
@paginate(LimitOffset)
def segment_customers(request, segment_id: int):
    access.customers_require(api_user(request), Perm.CUSTOMERS_VIEW)
    return selectors.customer_list(segment=get_object_or_404(Segment, pk=segment_id))


# --- Identity review queue -----------------------------------------------------------------------


@router.get("/identity-suggestions", response=list[SuggestionOut])
@paginate(LimitOffset)
def suggestion_list(request, status: IdentitySuggestion.Status = IdentitySuggestion.Status.PENDING):
    access.customers_require(api_user(request), Perm.CUSTOMERS_VIEW)
    return selectors.suggestion_list(status=status)


def _pending_suggestion(suggestion_id: int) -> IdentitySuggestion:
    suggestion = get_object_or_404(
        IdentitySuggestion.objects.select_related("customer"), pk=suggestion_id
    )
    if suggestion.status != IdentitySuggestion.Status.PENDING:
        raise ApiError(409, "already_decided", _("This suggestion has already been decided."))
    return suggestion


@router.post("/identity-suggestions/{suggestion_id}/accept", response=SuggestionOut)
def suggestion_accept(request, suggestion_id: int, payload: SuggestionAcceptIn):
    user = api_user(request)
    access.customers_require(user, Perm.CUSTOMERS_EDIT)
    suggestion = _pending_suggestion(suggestion_id)
    resolution.suggestion_accept(
        suggestion=suggestion, actor=user, consent_text=payload.consent_text
    )
    return IdentitySuggestion.objects.select_related("customer").get(pk=suggestion.pk)


@router.post("/identity-suggestions/{suggestion_id}/reject", response=SuggestionOut)
def suggestion_reject(request, suggestion_id: int):
    user = api_user(request)
    access.customers_require(user, Perm.CUSTOMERS_EDIT)
    suggestion = _pending_suggestion(suggestion_id)
    resolution.suggestion_reject(suggestion=suggestion, actor=user)
    return IdentitySuggestion.objects.select_related("customer").get(pk=suggestion.pk)


# --- Organisations and custom fields -------------------------------------------------------------


@router.get("/organisations", response=list[OrganisationOut])
@paginate(LimitOffset)
def organisation_list(request, search: str | None = None):
    access.customers_require(api_user(request), Perm.CUSTOMERS_VIEW)
    return selectors.organisation_list(search=search)


@router.post("/organisations", response={201: OrganisationOut})
def organisation_create(request, payload: OrganisationIn):
    user = api_user(request)
    access.customers_require(user, Perm.CUSTOMERS_EDIT)
    return Status(201, customer_services.organisation_create(actor=user, **payload.model_dump()))


@router.get("/custom-fields", response=list[CustomFieldOut])
@paginate(LimitOffset)
def custom_field_list(request):
    access.customers_require(api_user(request), Perm.CUSTOMERS_VIEW)
    return selectors.custom_field_list()


@router.post("/custom-fields", response={201: CustomFieldOut})
def custom_field_define(request, payload: CustomFieldIn):
    user = api_user(request)
    # The schema applies to every customer record: a workspace setting, not a record edit.
    access.customers_require(user, Perm.WORKSPACE_MANAGE)
    definition = customer_services.custom_field_define(
        actor=user, **payload.model_dump(mode="json")
    )
    return Status(201, definition)
