"""What the login may do in a subscription, answered as ARM answers it: a subscription with
``access: "none"`` refuses every request under it with 403 ``AuthorizationFailed``; a
``Disabled`` one is read-only (writes get 409 ``ReadOnlyDisabledSubscription``)."""

from __future__ import annotations

from .identity import APP_ID, OBJECT_ID
from .state import ArmError, AzureState

# The verb of an RBAC action, by HTTP method.
VERBS = {"GET": "read", "PUT": "write", "PATCH": "write", "DELETE": "delete", "POST": "action"}


def check(state: AzureState, sub_id: str, method: str, scope: str, resource_type: str) -> None:
    """Raise the ArmError ARM answers when the login may not run ``method`` on ``scope`` (the
    request's path, a resource of ``resource_type``); an unknown subscription passes (the
    handler answers its 404)."""
    sub = state.subs.get(sub_id.lower())
    if sub is None:
        return
    if sub.access == "none":
        action = f"{resource_type}/{VERBS.get(method, 'action')}"
        raise ArmError(403, "AuthorizationFailed", authorization_failed(action, scope))
    if sub.read_only and method != "GET":
        raise ArmError(
            409,
            "ReadOnlyDisabledSubscription",
            f"The subscription '{sub.id}' is disabled and therefore marked as read only. "
            "You cannot perform any write actions on this subscription until it is re-enabled.",
        )


def authorization_failed(action: str, scope: str) -> str:
    """ARM's 403 message for the sandbox's service principal."""
    return (
        f"The client '{APP_ID}' with object id '{OBJECT_ID}' does not have authorization to "
        f"perform action '{action}' over scope '{scope}' or the scope is invalid. If access was "
        "recently granted, please refresh your credentials."
    )
