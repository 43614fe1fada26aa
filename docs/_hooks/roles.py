"""MkDocs hook: the Sphinx roles of the code's docstrings (:class:`~a.B`) shown as plain code in the generated API
pages, which render them as ``:class:`` followed by the name."""

from __future__ import annotations

import re

ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|exc|obj):<code>~?")


def on_page_content(html, page, config, files):
    return ROLE.sub("<code>", html)
