"""The documentation site in headless Chromium: the home page with its figure, a tutorial, an
API page, the navigation between pages and the search, with no error in the console.
Screenshots go to ``test-artifacts/browser/docs-*.png``."""

import functools
import http.server
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from browser_lab import ARTIFACTS, CHROMIUM, CHROMIUM_FLAGS

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.browser, pytest.mark.docs]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The built site served on a loopback port (``make docs``'s build when it is there,
    else one built here); yields its base URL."""
    if shutil.which(CHROMIUM) is None:
        pytest.skip(f"{CHROMIUM} is not installed (make test installs it)")
    pytest.importorskip("playwright")
    html = ROOT / "docs" / "_build" / "html"
    if not (html / "index.html").exists():
        pytest.importorskip("sphinx")
        html = tmp_path_factory.mktemp("docs") / "html"
        subprocess.run([sys.executable, "-m", "sphinx", "-q", "-b", "html", str(ROOT / "docs"),
                        str(html)], cwd=ROOT, check=True, timeout=900)
    handler = functools.partial(_QuietHandler, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


def _open(browser, url: str, name: str):
    """A page at ``url``, loaded, with the console errors it logged; screenshot ``name``."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: errors.append(f"failed: {r.url}"))
    page.on("response", lambda r: errors.append(f"{r.status}: {r.url}")
            if r.status >= 400 else None)
    page.goto(url, wait_until="networkidle")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"docs-{name}.png"))
    return page, errors


def test_the_home_page_shows_its_figure_and_leads_to_the_guides(site, browser):
    page, errors = _open(browser, f"{site}/index.html", "home")
    assert errors == []
    widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.naturalWidth)")
    assert any(w > 100 for w in widths)   # the structure map, drawn
    for section in ("Tutorials", "How-to", "Reference", "Explanation", "Studies"):
        assert page.locator(f"a:has-text('{section}')").count() > 0, section
    page.locator("a:has-text('How-to')").first.click()
    page.wait_for_load_state("networkidle")
    assert "/how-to/" in page.url
    page.close()


def test_a_tutorial_and_an_api_page_render(site, browser):
    page, errors = _open(browser, f"{site}/tutorials/notebooks/00_quickstart.html",
                         "tutorial")
    assert errors == [] and page.locator("h1").count() >= 1
    assert page.locator("div.cell, div.highlight").count() > 0   # its code cells
    page.close()
    page, errors = _open(browser, f"{site}/reference/api/run.html", "api")
    assert errors == []
    assert page.locator("[id='gapexplore.run.explorer.Explorer']").count() == 1
    page.close()


def test_the_search_finds_the_explorer(site, browser):
    page, errors = _open(browser, f"{site}/search.html?q=Explorer", "search")
    page.wait_for_selector("ul.search li", timeout=20_000)
    assert page.locator("ul.search li").count() > 0 and errors == []
    page.close()
