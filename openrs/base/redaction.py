"""No secret reaches MLflow or the console: credentials inside URIs and the values of secret-looking environment
variables (names with TOKEN, SECRET, PASSW, API_KEY, ...) are replaced by *** (openrs.tracking redacts params,
tags, run names and the job.yaml artifact with it, and every line openrs prints that may hold a store's URI).

A URI's password may hold any character its scheme's parser accepts: `/`, spaces, `@` and `:` as SQLAlchemy takes
them raw, or percent-escaped. So the credentials of `scheme://` are everything up to the last `@` on that line that
a host follows (a name, an address or [IPv6], an optional port, then the end, `/`, `?`, `#`, a space, a quote,
punctuation or a colon that ends a clause; the last one with no space before it, where there is one), and the
password, raw and percent-decoded, is also removed wherever else it appears in the text.
"""

from __future__ import annotations

import os
import re
from urllib.parse import unquote

SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSW|API_?KEY|ACCESS_KEY|PRIVATE_KEY|CREDENTIAL|AUTH", re.IGNORECASE)
_SCHEME = re.compile(r"\b[A-Za-z][A-Za-z0-9+.\-]*://")
_HOST = re.compile(r"@(?:[A-Za-z0-9\-._~%]+|\[[0-9A-Fa-f:.]+\])(?::\d*)?(?=$|[/?#\s'\"),;\]}>]|:(?:\s|$))")
# Shorter secrets (a password "pw") are left where they stand alone: replacing them everywhere would garble text.
_MIN_SECRET = 4


def redact(text: str) -> str:
    """text without URI credentials (user:password@, whatever characters the password holds), without those
    passwords anywhere else in it (raw or percent-decoded), and without the value of any secret-looking
    environment variable (6 characters or more)."""
    text, found = _without_credentials(text)
    for secret in sorted({s for s in found if len(s) >= _MIN_SECRET} | set(_secret_values()), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def holds_password(uri: str) -> bool:
    """Whether uri carries a password (user:password@, whatever characters the password holds)."""
    return any(_without_credentials(uri)[1])


def _without_credentials(text: str) -> tuple[str, list[str]]:
    """text with each URI's credentials replaced by ***, and the passwords found (raw and percent-decoded)."""
    found: list[str] = []
    out, start = [], 0
    for scheme in _SCHEME.finditer(text):
        if scheme.start() < start:  # inside credentials already removed
            continue
        end = text.find("\n", scheme.end())
        line = text[scheme.end() : len(text) if end < 0 else end]
        hosts = list(_HOST.finditer(line))
        if not hosts:
            continue
        # The last host after credentials without a space, if any: a password's decoded form may follow the URI
        # on its line (`...@db:5432/x: password s@cret/x rejected`).
        host = next((h for h in reversed(hosts) if not re.search(r"\s", line[: h.start()])), hosts[-1])
        userinfo = line[: host.start()]
        # A plain URI followed by an address on the same line (http://host/x ... a@b.org) has no credentials: those
        # hold a `:` or are one word.
        if ":" not in userinfo and re.search(r"[/\s]", userinfo):
            continue
        found += [userinfo.partition(":")[2], unquote(userinfo.partition(":")[2])]
        out += [text[start : scheme.end()], "***"]
        start = scheme.end() + host.start()
    return "".join(out) + text[start:], found


def _secret_values() -> list[str]:
    for _ in range(10):
        try:
            return [v for k, v in os.environ.items() if SECRET_NAME.search(k) and len(v) >= 6]
        except (KeyError, RuntimeError):  # MLflow's telemetry thread changed the environment mid-read
            continue
    raise RuntimeError("the environment kept changing while openrs looked for secrets in it")
