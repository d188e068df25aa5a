"""Hide credentials in storage URIs before they reach logs, manifests, errors or Prefect.

Two places carry secrets in a URI: the user-info part (``s3://KEY:SECRET@bucket/path``) and the
query string (``?sig=...``, ``?X-Amz-Signature=...``, ``?token=...``). Both are replaced by
``***``; the rest of the URI stays, so that a redacted message still says which data it is about.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"

# scheme://user[:password]@host -> scheme://***@host. The user-info part ends at the first '@'
# before any '/', '?' or '#', as in RFC 3986.
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#@\s]+)@")
# Query parameters whose value is a credential: tokens, signatures, keys, passwords, Azure SAS
# and AWS pre-signed URL fields. Matched by name, case-insensitively, anywhere in the name.
_SECRET_PARAM = re.compile(
    r"(?P<name>[?&;][^=&;#\s]*(?:token|secret|passw|pwd|key|sig|credential|auth|session)"
    r"[^=&;#\s]*=)(?P<value>[^&;#\s'\"]*)",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """``text`` with every credential in a URI replaced by ``***``."""
    if "://" not in text and "=" not in text:
        return text  # the common case: nothing that could hold a secret
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", text)
    return _SECRET_PARAM.sub(lambda m: f"{m['name']}{MASK}" if m["value"] else m[0], text)


def redact_value(value: Any) -> Any:
    """Redact every string inside a JSON-like value (dicts, lists, tuples), keys included."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_value(k): redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_value(v) for v in value)
    return value
