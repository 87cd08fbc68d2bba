"""The API's one permission check: the caller holds the scopes the view asks for this method."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from clinic.auth.caller import get_caller


def required_scopes(view: Any, request: Request) -> frozenset[str]:
    """A view names `read_scopes` and `write_scopes`; an action may override them in
    `action_scopes`, with one tuple for every method or a tuple per method."""
    action_scopes: dict[str, Any] = getattr(view, "action_scopes", {})
    action = getattr(view, "action", None)
    if action in action_scopes:
        scopes = action_scopes[action]
        if isinstance(scopes, dict):
            scopes = scopes.get(request.method, ())
        return frozenset(scopes)
    if request.method in SAFE_METHODS:
        return frozenset(getattr(view, "read_scopes", ()))
    return frozenset(getattr(view, "write_scopes", ()))


class HasScope(BasePermission):
    """Deny by default: a view that names no scopes can still only be used by a known caller."""

    message = "Your role or client does not have the scope this request needs."

    def has_permission(self, request: Request, view: Any) -> bool:
        caller = get_caller(request)
        needed = required_scopes(view, request)
        if caller.has_scopes(needed):
            return True
        self.message = f"This request needs the scope(s): {', '.join(sorted(needed - caller.scopes))}."
        return False
