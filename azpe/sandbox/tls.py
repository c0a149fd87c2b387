"""A throw-away certificate authority and a server certificate for 127.0.0.1/localhost."""

from __future__ import annotations

import ssl
from pathlib import Path


def server_context(ca_path: Path) -> ssl.SSLContext:
    """Make a new CA, write its certificate to ``ca_path``, return a server TLS context."""
    import trustme  # the optional "sandbox" extra; imported only when a server starts

    ca = trustme.CA(organization_name="azpe sandbox")
    cert = ca.issue_cert("127.0.0.1", "localhost", "::1")
    ca_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = ca_path.with_suffix(".tmp")
    tmp.write_bytes(ca.cert_pem.bytes())
    tmp.replace(ca_path)  # atomic: a running az never reads half a file
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(context)
    return context
