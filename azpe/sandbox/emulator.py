"""The HTTPS server: token service and cloud metadata (``identity``), ARM (``arm``), the
admin endpoints under ``/_sandbox/`` (``admin``), fault injection and the request log."""

from __future__ import annotations

import json
import re
import ssl
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from . import admin, arm, identity
from .faults import MALFORMED_BODY, Fault, FaultRules
from .shapes import Reply, arm_error
from .state import AzureState
from .tls import server_context

_OPENID = re.compile(r"^/(?P<tenant>[^/]+)/v2\.0/\.well-known/openid-configuration$")
_TOKEN = re.compile(r"^/(?P<tenant>[^/]+)/oauth2/v2\.0/token$")


class RequestLog:
    """Every request az sent (admin calls excluded), in memory and optionally as JSON lines."""

    def __init__(self, path: Path | None = None) -> None:
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []
        self.path = path

    def add(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._entries.append(entry)
            if self.path is not None:
                with self.path.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(entry) + "\n")

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self._entries]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            if self.path is not None:
                self.path.write_text("", encoding="utf-8")


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        state: AzureState,
        state_dir: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        log_to_file: bool = False,
    ) -> None:
        super().__init__((host, port), _Handler)
        self.state = state
        self.faults = FaultRules()
        self.ca_path = state_dir / "ca.pem"
        self.log = RequestLog(state_dir / "requests.jsonl" if log_to_file else None)
        self.stopping = threading.Event()
        self._held_lock = threading.Lock()
        self._held = 0
        # The handshake happens in the handler thread, so a slow client cannot block accept().
        self.socket = server_context(self.ca_path).wrap_socket(
            self.socket, server_side=True, do_handshake_on_connect=False
        )
        self.port = int(self.server_address[1])
        self.url = f"https://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.serve_forever, args=(0.05,), name="azpe-sandbox", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()  # releases held responses
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def hold(self, fault: Fault) -> None:
        if fault.hold_seconds is None:
            return
        with self._held_lock:
            self._held += 1
        try:
            self.stopping.wait(None if fault.holds_forever else fault.hold_seconds)
        finally:
            with self._held_lock:
                self._held -= 1

    @property
    def held(self) -> int:
        """How many answers a fault is holding right now."""
        with self._held_lock:
            return self._held


class _Handler(BaseHTTPRequestHandler):
    server: EmulatorServer
    protocol_version = "HTTP/1.1"  # keep-alive, as ARM; every answer has a Content-Length
    timeout = 60  # idle keep-alive connections end after this

    def handle(self) -> None:
        try:
            self.connection.do_handshake()
            super().handle()
        except (ssl.SSLError, OSError):
            pass  # a client that goes away is not the emulator's problem

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log records what matters

    def do_GET(self) -> None:
        self._dispatch()

    do_PUT = do_POST = do_DELETE = do_PATCH = do_GET

    def _dispatch(self) -> None:
        em = self.server
        raw_path, _, query = self.path.partition("?")
        path = re.sub(r"/{2,}", "/", raw_path)  # az asks for //metadata/endpoints
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if path.startswith("/_sandbox/"):
            self._send(admin.handle(em, self.command, path, body))
            return
        started = time.time()
        fault = em.faults.take(self.command, path)
        if fault is not None and fault.status is not None:
            em.hold(fault)
            code, message = fault.error(self.command, path)
            reply = arm_error(fault.status, code, message)
        else:
            reply = self._route(path, query, body)
            if fault is not None:
                em.hold(fault)
        if fault is not None:
            if fault.retry_after is not None:
                reply.headers["Retry-After"] = str(fault.retry_after)
            if fault.malformed:
                reply.body = MALFORMED_BODY
                reply.headers["Content-Type"] = "text/html"
        # Logged before answering: once az has its answer, the log already shows it.
        em.log.add(
            {
                "time": datetime.fromtimestamp(started, timezone.utc).isoformat(),
                "method": self.command,
                "path": raw_path,
                "query": query,
                "status": reply.status,
                "body": _json_or_none(body) if self.command in ("PUT", "PATCH") else None,
                "fault": fault is not None,
                "seconds": round(time.time() - started, 3),
            }
        )
        self._send(reply)

    def _route(self, path: str, query: str, body: bytes) -> Reply:
        em = self.server
        if path == "/metadata/endpoints" and self.command == "GET":
            return Reply(200, identity.cloud_metadata(em.url))
        match = _OPENID.match(path)
        if match and self.command == "GET":
            return identity.openid_configuration(em.url, match["tenant"])
        match = _TOKEN.match(path)
        if match and self.command == "POST":
            return identity.token(em.url, match["tenant"], body)
        denied = identity.check_bearer(self.headers.get("Authorization"))
        if denied is not None:
            return denied
        return arm.handle(em.state, em.url, self.command, path, query, body)

    def _send(self, reply: Reply) -> None:
        if isinstance(reply.body, bytes):
            payload = reply.body
        elif reply.body is None:
            payload = b""
        else:
            payload = json.dumps(reply.body).encode()
        self.send_response(reply.status)
        headers = {"Content-Type": "application/json; charset=utf-8", **reply.headers}
        if not payload and "Content-Type" not in reply.headers:
            del headers["Content-Type"]
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("x-ms-request-id", str(uuid.uuid4()))
        self.send_header("x-ms-correlation-request-id", str(uuid.uuid4()))
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace") or None
