"""The /app shell itself (no browser): static HTML with a strict CSP, every client route, vendored libraries
with their licences and checksums, and scripts that never build markup from strings or store the token."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

STATIC = Path(__file__).resolve().parents[2] / "web" / "static"


def test_root_redirects_to_app(client):
    resp = client.get("/")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/app")


@pytest.mark.parametrize("path", ["/app", "/app/", "/app/sessions", "/app/sessions/0b0e4d0c-0000-4000-8000-000000000000",
                                  "/app/anything/deep?x=1"])
def test_every_app_route_serves_the_same_static_shell(client, path, tenant):
    resp = client.get(path, headers=tenant.h("engineer"))
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp and "unsafe" not in csp
    assert resp.headers["Cache-Control"] == "no-store" and resp.headers["X-Frame-Options"] == "DENY"
    html = resp.get_data(as_text=True)
    assert '<script type="module" src="/static/app/main.js"></script>' in html
    assert "<script>" not in html and "<style" not in html and " style=" not in html  # nothing inline
    assert "http://" not in html and "https://" not in html  # no CDN
    assert tenant.tokens["engineer"] not in html and "Bearer" not in html


def test_vendored_libraries_match_their_checksums_and_carry_licences():
    vendor = STATIC / "vendor"
    sums = (vendor / "SHA256SUMS").read_text().split("\n")
    checked = 0
    for line in filter(None, sums):
        digest, name = line.split()
        assert hashlib.sha256((vendor / name).read_bytes()).hexdigest() == digest, name
        checked += 1
    assert checked == 7
    for lib in ("preact", "htm", "marked", "dompurify", "uplot"):
        assert (vendor / f"LICENSE.{lib}").stat().st_size > 500, lib
    assert 'from"./preact.mjs"' in (vendor / "preact-hooks.mjs").read_text()  # no bare import: no import map needed


def test_page_scripts_build_no_markup_from_strings():
    scripts = list((STATIC / "app").glob("*.js")) + [STATIC / "js" / "api.js"]
    assert len(scripts) >= 8
    for path in scripts:
        js = path.read_text()
        for banned in ("innerHTML", "outerHTML", "insertAdjacentHTML", "dangerouslySetInnerHTML", "document.write",
                       "eval(", "new Function", "localStorage", "document.cookie"):
            assert banned not in js, f"{path.name} uses {banned}"
    # Markdown reaches the page only as a sanitised DocumentFragment.
    md = (STATIC / "app" / "markdown.js").read_text()
    assert "RETURN_DOM_FRAGMENT: true" in md and "replaceChildren(renderMarkdown" in md
    assert re.search(r"sessionStorage\.(get|set|remove)Item", (STATIC / "js" / "api.js").read_text())


def test_static_assets_are_served(client):
    for asset in ("/static/app/main.js", "/static/app/app.css", "/static/vendor/preact.mjs", "/static/js/api.js"):
        resp = client.get(asset)
        assert resp.status_code == 200 and resp.data, asset
        resp.close()
