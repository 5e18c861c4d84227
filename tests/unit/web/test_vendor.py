"""The charting library is the unmodified npm package file, at the version and hash recorded with it."""

from __future__ import annotations

import hashlib

import orjson

from streamer.web.app import STATIC_DIR


def test_vendored_chart_library_is_the_recorded_unmodified_file() -> None:
    vendor = orjson.loads((STATIC_DIR / "vendor.json").read_bytes())["lightweight-charts"]
    shipped = (STATIC_DIR / vendor["file"]).read_bytes()
    assert hashlib.sha256(shipped).hexdigest() == vendor["sha256"]
    assert f"Lightweight Charts\u2122 v{vendor['version']}".encode() in shipped[:200]
    licence = (STATIC_DIR / vendor["license_file"]).read_text()
    assert "Apache License" in licence and "Version 2.0" in licence


def test_page_loads_only_assets_that_are_shipped() -> None:
    page = (STATIC_DIR / "index.html").read_text()
    for name in ("app.js", "app.css", "lightweight-charts.standalone.production.js"):
        assert f'/static/{name}"' in page
        assert (STATIC_DIR / name).is_file()
    assert "http://" not in page and "https://" not in page  # nothing is fetched from elsewhere
