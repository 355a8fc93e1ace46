"""Keeping tokens out of files, logs and the terminal.

A GitHub token can reach annotator in four ways: $GITHUB_TOKEN, --token-file, inside a URL
(``http://user:TOKEN@host``) and typed by mistake where something else belongs (a repository
name, --since). ``scrub_secrets`` removes all of them from a text: the tokens annotator was given
(``remember_secret``), $GITHUB_TOKEN, the user:password part of any URL and anything shaped like a
GitHub token. ``scrub_url`` drops the userinfo of one URL before it is stored or printed.
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit, urlunsplit

_known: set[str] = set()
# GitHub's token formats (ghp_, gho_, ghu_, ghs_, ghr_, github_pat_) and the old 40-hex tokens.
_TOKEN_SHAPE = re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|[0-9a-f]{40})\b")
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]*@")
REDACTED = "[token]"


def remember_secret(secret: str | None) -> None:
    """Scrub this value from everything from now on (the token in use)."""
    if secret and len(secret) >= 4:
        _known.add(secret)


def looks_like_token(text: str) -> bool:
    text = text.strip()
    return bool(text) and (text in _secrets() or _TOKEN_SHAPE.search(text) is not None)


def _secrets() -> set[str]:
    env = os.environ.get("GITHUB_TOKEN", "").strip()
    return _known | ({env} if len(env) >= 4 else set())


def scrub_secrets(text: object) -> str:
    text = str(text)
    for secret in sorted(_secrets(), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    text = _URL_USERINFO.sub(lambda m: m.group(1), text)
    return _TOKEN_SHAPE.sub(REDACTED, text)


def scrub_url(url: str) -> str:
    """``url`` without its user:password part (what is stored and shown)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return scrub_secrets(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
