"""A local Azure emulator (fake ARM and token service over HTTPS on loopback) that the real
az CLI talks to: the ground of the end-to-end tests and of ``azpe sandbox``.

Importing this package is cheap; the server modules load on first use of a name below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .api import CLOUD_NAME, Emulator, SandboxError, az_environment, prepare_az, run_az
    from .faults import Fault
    from .identity import APP_ID, APP_SECRET, TENANT_ID
    from .scenarios import (
        APPS_SUBSCRIPTION,
        DEFAULT_SUBSCRIPTION,
        DISABLED_SUBSCRIPTION,
        FOREIGN_SUBSCRIPTION,
        NO_ACCESS_SUBSCRIPTION,
        SANDBOX_SUBSCRIPTIONS,
        connection,
        default_scenario,
        fleet,
        scenario,
        server,
    )

_LAZY = {
    "CLOUD_NAME": "api",
    "Emulator": "api",
    "SandboxError": "api",
    "az_environment": "api",
    "prepare_az": "api",
    "run_az": "api",
    "Fault": "faults",
    "APP_ID": "identity",
    "APP_SECRET": "identity",
    "TENANT_ID": "identity",
    "APPS_SUBSCRIPTION": "scenarios",
    "DEFAULT_SUBSCRIPTION": "scenarios",
    "DISABLED_SUBSCRIPTION": "scenarios",
    "FOREIGN_SUBSCRIPTION": "scenarios",
    "NO_ACCESS_SUBSCRIPTION": "scenarios",
    "SANDBOX_SUBSCRIPTIONS": "scenarios",
    "connection": "scenarios",
    "default_scenario": "scenarios",
    "fleet": "scenarios",
    "scenario": "scenarios",
    "server": "scenarios",
}
__all__ = [
    "APPS_SUBSCRIPTION",
    "APP_ID",
    "APP_SECRET",
    "CLOUD_NAME",
    "DEFAULT_SUBSCRIPTION",
    "DISABLED_SUBSCRIPTION",
    "FOREIGN_SUBSCRIPTION",
    "NO_ACCESS_SUBSCRIPTION",
    "SANDBOX_SUBSCRIPTIONS",
    "TENANT_ID",
    "Emulator",
    "Fault",
    "SandboxError",
    "az_environment",
    "connection",
    "default_scenario",
    "fleet",
    "prepare_az",
    "run_az",
    "scenario",
    "server",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
