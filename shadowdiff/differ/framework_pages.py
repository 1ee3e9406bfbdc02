"""The ``framework-error-pages`` normalizer: Werkzeug's and Starlette's own 404/405 answers.

A route no application handler serves is answered by the framework: Werkzeug (Flask) with a
small HTML page, Starlette with ``Not Found`` as text, FastAPI with ``{"detail": "Not Found"}``
(and likewise ``405 Method Not Allowed``). When both statuses are the same 404 or 405 and each
body is exactly one of these pages for that status (Werkzeug's with its default description,
in its current ``<!doctype html>`` or its older HTML 3.2 form; Starlette's text with a
``text/plain`` Content-Type; FastAPI's object with exactly that one key and phrase), the
bodies and their Content-Type count as equal. Anything else is compared as usual: an
application's own 404 (``abort(404, "no such user")``, ``{"detail": "User not found"}``, any
other JSON body) is not a framework page.
"""

from __future__ import annotations

import re
from typing import Any, Final

from shadowdiff.differ.bodies import media_type
from shadowdiff.differ.fields import Absorbed, kind_of
from shadowdiff.differ.ruleset import Rule
from shadowdiff.differ.trees import MISSING

__all__ = ["framework_of", "same_framework_page"]

#: status -> (reason phrase, Werkzeug's default description)
PAGES: Final = {
    404: (
        "Not Found",
        "The requested URL was not found on the server. If you entered the URL manually "
        "please check your spelling and try again.",
    ),
    405: ("Method Not Allowed", "The method is not allowed for the requested URL."),
}
_WERKZEUG: Final = re.compile(
    r'(?:<!doctype html>\n<html lang=en>|<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3\.2 Final//EN">)'
    r"\n<title>(\d{3}) ([A-Za-z ]{1,40})</title>\n<h1>([A-Za-z ]{1,40})</h1>"
    r"\n<p>([^<]{1,200})</p>\n?"
)
_MAX_PAGE: Final = 512  # characters: every framework page is shorter


def _content_type(tree: dict[str, Any]) -> str | None:
    headers = tree.get("headers")
    value = headers.get("content-type") if type(headers) is dict else None
    return media_type(value)[0] if type(value) is str else None


def framework_of(tree: dict[str, Any]) -> str | None:
    """``"werkzeug"`` or ``"starlette"`` when the tree is that framework's own 404/405 page
    for its status, else None."""
    status = tree.get("status")
    if status not in PAGES:
        return None
    phrase, description = PAGES[status]
    body = tree.get("body")
    if type(body) is dict:
        return "starlette" if body == {"detail": phrase} else None
    if type(body) is not str or len(body) > _MAX_PAGE:
        return None
    media = _content_type(tree)
    if body == phrase and media == "text/plain":
        return "starlette"
    m = _WERKZEUG.fullmatch(body)
    if m is None or media != "text/html":
        return None
    if (int(m.group(1)), m.group(2), m.group(3), m.group(4)) == (
        status,
        phrase,
        phrase,
        description,
    ):
        return "werkzeug"
    return None


def same_framework_page(
    rule: Rule, old: dict[str, Any], new: dict[str, Any], absorbed: list[Absorbed]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The pair with the new side's framework page made the old one's, when both are the two
    frameworks' pages for one status (see the module docstring)."""
    if old.get("status") != new.get("status"):
        return old, new
    fo, fn = framework_of(old), framework_of(new)
    if fo is None or fn is None or fo == fn:
        return old, new
    bo, bn = old.get("body"), new.get("body")
    absorbed.append(("body", kind_of("body", bo, bn), bo, bn, rule))
    ho, hn = old.get("headers") or {}, new.get("headers") or {}
    co, cn = ho.get("content-type", MISSING), hn.get("content-type", MISSING)
    headers = dict(hn)
    if co != cn:
        path = "headers.content-type"
        absorbed.append((path, kind_of(path, co, cn), co, cn, rule))
        if co is MISSING:
            headers.pop("content-type", None)
        else:
            headers["content-type"] = co
    return old, {**new, "headers": headers, "body": bo}
