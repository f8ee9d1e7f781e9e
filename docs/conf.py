"""Sphinx configuration shared by both languages of the documentation.

One configuration builds two sites from sibling source trees, ``docs/en`` and ``docs/es``;
the Makefile passes the tree and ``-D language=``. The build reaches no network: no
intersphinx, no remote theme or image, only the built-in ``alabaster`` theme.
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path[:0] = [str(DOCS / "_ext"), str(DOCS.parent)]

import whatsapp_notify  # noqa: E402  (after the path above, for a checkout without install)

project = "django-whatsapp-notify"
author = "django-whatsapp-notify developers"
copyright = "django-whatsapp-notify developers"
release = whatsapp_notify.__version__
version = release

extensions = ["myst_parser", "whatsapp_docs"]
source_suffix = {".md": "markdown"}
root_doc = "index"
language = "es"

# Same anchors GitHub gives a heading, so "page.md#section" links work on both.
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

html_theme = "alabaster"
html_title = project
html_static_path: list[str] = []
html_theme_options = {"nosidebar": False, "show_relbars": True}
# No "last updated" stamps nor source copies: the pages are their own source.
html_copy_source = False
html_show_sourcelink = False
templates_path = ["_templates"]
# Alabaster's own sidebars, plus the link to the same page in the other language.
html_sidebars = {"**": ["about.html", "navigation.html", "idioma.html", "searchbox.html"]}
