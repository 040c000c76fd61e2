"""The navigation menu: each entry names the permission that shows it (accounts.access)."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from apiary.accounts.access import Perm, user_has_permission


@dataclass(frozen=True)
class NavItem:
    label: str | Promise
    url_name: str
    perm: Perm
    section: str


# Later issues add their entries here; entries whose page does not exist yet are skipped.
NAV_ITEMS: list[NavItem] = [
    NavItem(_("Dashboard"), "web:dashboard", Perm.DASHBOARD_VIEW, "dashboard"),
    NavItem(_("Inbox"), "care:inbox", Perm.CARE_INBOX, "care"),
    NavItem(_("Customers"), "customers:list", Perm.CUSTOMERS_VIEW, "customers"),
    NavItem(_("Listening"), "listening:search", Perm.LISTENING_VIEW, "listening"),
    NavItem(_("Alerts"), "alerts:list", Perm.ALERTS_VIEW, "alerts"),
    NavItem(_("Community"), "community:home", Perm.COMMUNITY_PARTICIPATE, "community"),
    NavItem(_("Analytics"), "analytics:home", Perm.ANALYTICS_VIEW, "analytics"),
    NavItem(_("Users"), "web:users", Perm.USERS_MANAGE, "users"),
]


def nav_for(user) -> list[dict]:
    items = []
    for item in NAV_ITEMS:
        if not user_has_permission(user, item.perm):
            continue
        try:
            url = reverse(item.url_name)
        except NoReverseMatch:
            continue
        items.append({"label": item.label, "url": url, "section": item.section})
    return items
