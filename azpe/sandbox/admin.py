"""Admin endpoints under ``/_sandbox/`` for out-of-process tests, benchmarks and the CLI
(``azpe sandbox dump|seed|fault|server-state|timing|status`` call them).
Plain JSON, no authentication: the emulator listens on loopback only.

    GET    /_sandbox/health        {"ok": true, "url", "pid"}
    GET    /_sandbox/state         the state in the seed format
    POST   /_sandbox/seed          body: a scenario; replaces the state
    GET    /_sandbox/faults        the pending faults
    POST   /_sandbox/faults        body: one fault object or a list (fields of ``Fault``)
    DELETE /_sandbox/faults        removes every fault
    GET    /_sandbox/requests      the request log
    DELETE /_sandbox/requests      empties the request log
    POST   /_sandbox/server-state  {"subscription", "resourceGroup", "server", "state",
                                    "readyAfter": seconds or null}
    GET    /_sandbox/timing        {"opSeconds", "timing"} of connection writes
    POST   /_sandbox/timing        body: {"opSeconds"?, "timing"?} ("at-end" or "at-once");
                                    applies to writes started afterwards; answers the new values
    POST   /_sandbox/shutdown      stops the emulator
"""

from __future__ import annotations

import json
import os
import threading
from typing import TYPE_CHECKING, Any

from . import scenarios
from .faults import Fault
from .shapes import Reply
from .state import ArmError, AzureState

if TYPE_CHECKING:
    from .emulator import EmulatorServer


def handle(em: EmulatorServer, method: str, path: str, body: bytes) -> Reply:
    try:
        data: Any = json.loads(body) if body else None
        return _route(em, method, path.removeprefix("/_sandbox/").rstrip("/"), data)
    except ArmError as err:
        return Reply(err.status, {"error": {"code": err.code, "message": err.message}})
    except (ValueError, KeyError, TypeError) as exc:
        return Reply(400, {"error": {"code": "BadRequest", "message": str(exc)}})


def _route(em: EmulatorServer, method: str, name: str, data: Any) -> Reply:
    if (method, name) == ("GET", "health"):
        return Reply(200, {"ok": True, "url": em.url, "pid": os.getpid()})
    if (method, name) == ("GET", "state"):
        return Reply(200, scenarios.dump(em.state))
    if (method, name) == ("POST", "seed"):
        scenarios.load(em.state, data)
        return Reply(200, scenarios.dump(em.state))
    if (method, name) == ("GET", "faults"):
        return Reply(200, [f.to_json() for f in em.faults.list()])
    if (method, name) == ("POST", "faults"):
        items = data if isinstance(data, list) else [data]
        faults = [Fault.from_json(item) for item in items]  # all valid, or none added
        for fault in faults:
            fault.method = fault.method.upper()  # matched against the request's (upper) method
            em.faults.add(fault)
        return Reply(200, [f.to_json() for f in em.faults.list()])
    if (method, name) == ("DELETE", "faults"):
        em.faults.clear()
        return Reply(204)
    if (method, name) == ("GET", "requests"):
        return Reply(200, em.log.entries())
    if (method, name) == ("DELETE", "requests"):
        em.log.clear()
        return Reply(204)
    if (method, name) == ("POST", "server-state"):
        em.state.set_server_state(
            data["subscription"],
            data["resourceGroup"],
            data["server"],
            data["state"],
            data.get("readyAfter"),
        )
        return Reply(200, scenarios.dump(em.state))
    if (method, name) == ("GET", "timing"):
        return Reply(200, timing_json(em.state))
    if (method, name) == ("POST", "timing"):
        if not isinstance(data, dict):
            raise ValueError('the body must be an object: {"opSeconds"?, "timing"?}')
        unknown = set(data) - {"opSeconds", "timing"}
        if unknown:
            raise ValueError(f"unknown timing fields: {', '.join(sorted(unknown))}")
        em.state.configure(data.get("opSeconds"), data.get("timing"))
        return Reply(200, timing_json(em.state))
    if (method, name) == ("POST", "shutdown"):
        threading.Thread(target=em.stop, daemon=True).start()
        return Reply(202, {"ok": True})
    return Reply(404, {"error": {"code": "NotFound", "message": f"no admin endpoint {name}"}})


def timing_json(state: AzureState) -> dict[str, Any]:
    with state.lock:
        return {"opSeconds": state.op_seconds, "timing": state.timing}
