"""Who may see and do what: the one place roles and row scope are decided.

Today the dashboard runs for one local user with every right. When a hosted
link gains sign-in, ``user_from_identity`` maps the signed-in identity to a
role and regions (from ``.streamlit/secrets.toml`` or the environment), and
everything else keeps working: pages ask ``can()``, queries receive ``scope``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from customer_value.filters import Scope

ROLES = ("viewer", "analyst", "admin")
PERMISSIONS: dict[str, frozenset[str]] = {
    # viewers read; analysts load and undo data; admins manage users and settings
    "viewer": frozenset({"view"}),
    "analyst": frozenset({"view", "load_data", "export"}),
    "admin": frozenset({"view", "load_data", "export", "manage"}),
}


@dataclass(frozen=True)
class User:
    name: str
    role: str = "admin"
    regions: tuple[str, ...] | None = None  # None: every region

    def can(self, permission: str) -> bool:
        return permission in PERMISSIONS.get(self.role, frozenset())

    @property
    def scope(self) -> Scope:
        return Scope(regions=self.regions)


def local_user() -> User:
    """The person running the dashboard on their own machine: full rights.

    ``CV_ROLE`` and ``CV_REGIONS`` (comma separated) let a deployment or a test
    run the app as a narrower user before sign-in exists.
    """
    role = os.environ.get("CV_ROLE", "admin")
    if role not in ROLES:
        role = "viewer"  # an unknown role gets the least, never the most
    regions_text = os.environ.get("CV_REGIONS", "").strip()
    regions = tuple(part.strip() for part in regions_text.split(",") if part.strip()) or None
    return User(name=os.environ.get("CV_USER", "local user"), role=role, regions=regions)
