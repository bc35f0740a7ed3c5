"""The views: their `ui://` URIs, the tool `_meta` that links to one, and their HTML.

A view is one self-contained HTML document (hosts render it in a sandboxed iframe from a string):
the shared look and DOM helpers, the bridge and the view's own script are inlined when the server is
built. The look (`look.css`, `dom.js`) lives with the sandbox, whose console wears it too: the
sandbox imports nothing of lynn_mcp, so the views read its files instead (as files, not imports).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any, Final

from mcp.server.apps import Apps, ResourceCsp

__all__ = [
    "CAMPAIGNS",
    "LEGACY_LINK_KEY",
    "LOAD_REPORT",
    "VIEWS",
    "View",
    "view_html",
    "view_link",
    "views_extension",
]

LEGACY_LINK_KEY: Final = "ui/resourceUri"
"""The flat `_meta` key hosts written before the nested `_meta.ui.resourceUri` still read."""


@dataclass(frozen=True)
class View:
    uri: str
    title: str
    script: str
    """Its own script in static/, after the bridge and the DOM helpers."""
    description: str


LOAD_REPORT: Final = View(
    "ui://lynn/load-report.html",
    "Load report",
    "load-report.js",
    "A load or task report: accepted, rejected and unprocessed rows, rejections by reason, the first "
    "rejected rows.",
)
CAMPAIGNS: Final = View(
    "ui://lynn/campaigns.html",
    "Campaigns",
    "campaigns.js",
    "The tenant's campaigns as a table; refresh and open one through the host (read-only).",
)
VIEWS: Final = (LOAD_REPORT, CAMPAIGNS)

# Every list empty: the view may reach no outside origin at all (no fetch, no script, style, font
# or image from elsewhere, no frame). Everything it needs is inlined.
NO_OUTSIDE_DOMAIN: Final = ResourceCsp(
    connect_domains=[], resource_domains=[], frame_domains=[], base_uri_domains=[]
)


def view_link(view: View) -> dict[str, Any]:
    """A tool's `_meta` pointing at `view`: the nested key of the stable spec and the legacy flat key.

    Only hosts that advertise MCP Apps see it (`links.ViewsForAppHosts`)."""
    return {"ui": {"resourceUri": view.uri}, LEGACY_LINK_KEY: view.uri}


def _read(folder: Traversable, name: str) -> str:
    return (folder / name).read_text(encoding="utf-8")


@cache
def view_html(view: View) -> str:
    """The view's whole document, with its style and scripts inlined."""
    own = resources.files(__package__) / "static"
    shared = resources.files("lynn_mcp") / "sandbox" / "static"
    parts = ((own, "bridge.js"), (shared, "dom.js"), (own, view.script))
    script = "\n".join(_read(folder, name) for folder, name in parts)
    style = _read(shared, "look.css")
    if "</script" in script.lower() or "</style" in style.lower():
        raise ValueError(f"{view.script}: inlined code must not close its own element")
    page = _read(own, "view.html").replace("@@TITLE@@", view.title).replace("@@STYLE@@", style)
    return page.replace("@@SCRIPT@@", script)


def views_extension() -> Apps:
    """The MCP Apps extension serving every view (the tools link to them with `view_link`)."""
    apps = Apps()
    for view in VIEWS:
        apps.add_html_resource(
            view.uri,
            view_html(view),
            name=view.uri.removeprefix("ui://lynn/").removesuffix(".html"),
            title=f"Lynn {view.title.lower()}",
            description=view.description,
            csp=NO_OUTSIDE_DOMAIN,
            prefers_border=True,
        )
    return apps
