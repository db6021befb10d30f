"""The built site, opened the way a reader opens it: headless Chromium through every page.

Playwright drives Debian's ``chromium`` (no browser download) at 1280 x 900 against the site served on
127.0.0.1. Every request to another host is logged and blocked. For every page: it loads (HTTP 200), the
console shows no error and no script throws, no local resource is missing, every image decodes, and MathJax
(served from ``_static``) finishes typesetting. Then: the sidebar leads from the home page to a lesson and
on to the next, the search page finds lessons, an exercise solution opens when clicked, and the figures page
has no horizontal scroll at 1280 px. Screenshots of the home page and two lessons go to
``_build/screenshots/``; a summary of what was seen goes to ``_build/site-check.json``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(os.environ.get("SBERT_SITE_OUT") or ROOT / "_build")

VIEWPORT = {"width": 1280, "height": 900}
LOAD_TIMEOUT_MS = 60_000


def _browser_path() -> str:
    path = os.environ.get("SBERT_BROWSER") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        if os.environ.get("CI") == "true":
            pytest.fail("no chromium: `make site-deps` installs Debian's package")
        pytest.skip("no chromium here (`make site-deps` installs Debian's package)")
    return path


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    path = _browser_path()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, headless=True,
                              args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield b
        b.close()


class Visit:
    """A browser context that blocks every request leaving 127.0.0.1 and logs what each page did."""

    def __init__(self, browser, base_url):
        self.base = base_url
        self.host = urlparse(base_url).netloc
        self.blocked: list[dict] = []
        self.context = browser.new_context(viewport=VIEWPORT, service_workers="block")
        self.context.route("**/*", self._route)
        self.page_name = ""

    def _route(self, route):
        url = route.request.url
        if urlparse(url).netloc == self.host:
            route.continue_()
        else:
            self.blocked.append({"page": self.page_name, "url": url})
            route.abort()

    def open(self, rel: str):
        """Load a page; return (page, problems)."""
        self.page_name = rel
        page = self.context.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(f"script error: {e}"))
        page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} ({r.failure})")
                if urlparse(r.url).netloc == self.host else None)
        page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}")
                if r.status >= 400 and urlparse(r.url).netloc == self.host else None)
        resp = page.goto(f"{self.base}/{rel}", wait_until="load", timeout=LOAD_TIMEOUT_MS)
        if resp is None or resp.status != 200:
            problems.append(f"page status {resp.status if resp else 'none'}")
        page.wait_for_load_state("networkidle", timeout=LOAD_TIMEOUT_MS)
        mathjax = page.evaluate("""async () => {
            if (!window.MathJax || !MathJax.startup || !MathJax.startup.promise) return 'absent';
            await MathJax.startup.promise; return 'typeset'; }""")
        broken = page.evaluate("""async () => Promise.all(Array.from(document.images).map(async (img) => {
            img.loading = 'eager';
            try { await img.decode(); } catch (e) { return img.currentSrc || img.src; }
            return img.naturalWidth > 0 ? null : (img.currentSrc || img.src); }))""")
        n_images = len(broken)
        problems += [f"image did not load: {u}" for u in broken if u]
        return page, problems, {"images": n_images, "mathjax": mathjax}

    def close(self):
        self.context.close()


def _pages(site: Path) -> list[str]:
    return sorted(str(p.relative_to(site)) for p in site.rglob("*.html")
                  if not {"_static", "_sources", "_images"} & set(p.relative_to(site).parts))


def _lessons(site: Path) -> list[str]:
    return sorted(str(p.relative_to(site)) for p in (site / "notebooks").glob("[0-9][0-9]_*.html"))


@pytest.fixture(scope="module")
def crawl(browser, base_url, site_dir):
    """Every page once; the per-page findings, the blocked requests and the screenshots."""
    shots = OUT / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    lessons = _lessons(site_dir)
    shoot = {"index.html": "home.png", **{rel: f"lesson-{Path(rel).stem}.png" for rel in lessons[:2]}}
    visit = Visit(browser, base_url)
    seen, taken = {}, []
    try:
        for rel in _pages(site_dir):
            page, problems, info = visit.open(rel)
            if rel in shoot:
                page.screenshot(path=str(shots / shoot[rel]), full_page=True)
                taken.append(str(shots / shoot[rel]))
            seen[rel] = {"problems": problems, **info, "title": page.title()}
            page.close()
    finally:
        visit.close()
    report = {"pages": seen, "blocked_requests": visit.blocked, "screenshots": taken,
              "viewport": VIEWPORT, "browser": _browser_path()}
    (OUT / "site-check.json").write_text(json.dumps(report, indent=1) + "\n")
    n_img = sum(p["images"] for p in seen.values())
    print(f"\nsite check: {len(seen)} pages, {n_img} images, {len(visit.blocked)} request(s) to other hosts "
          f"blocked, screenshots: {', '.join(taken)}")
    return report


def test_every_page_loads_without_errors(crawl, site_dir):
    assert len(crawl["pages"]) == len(_pages(site_dir)) and "index.html" in crawl["pages"]
    bad = {rel: p["problems"] for rel, p in crawl["pages"].items() if p["problems"]}
    assert not bad, "pages with problems:\n" + "\n".join(f"{rel}: {'; '.join(v[:5])}" for rel, v in bad.items())


def test_no_request_leaves_localhost(crawl):
    assert not crawl["blocked_requests"], (
        "pages asked for other hosts (blocked):\n" +
        "\n".join(f"{b['page']}: {b['url']}" for b in crawl["blocked_requests"][:30]))


def test_math_is_typeset_from_the_local_mathjax(crawl):
    typeset = [rel for rel, p in crawl["pages"].items() if p["mathjax"] == "typeset"]
    assert any(rel.startswith("notebooks/") for rel in typeset), "no lesson page typeset math"


def test_screenshots_of_home_and_two_lessons(crawl):
    shots = [Path(s).name for s in crawl["screenshots"]]
    assert "home.png" in shots and sum(s.startswith("lesson-") for s in shots) == 2, shots
    for s in crawl["screenshots"]:
        assert Path(s).stat().st_size > 10_000, f"{s} looks empty"


def test_sidebar_leads_from_home_to_the_lessons(browser, base_url, site_dir):
    lessons = _lessons(site_dir)
    assert len(lessons) >= 2
    visit = Visit(browser, base_url)
    try:
        page, problems, _ = visit.open("index.html")
        for target in lessons[:2]:
            link = page.locator(f'.bd-sidebar-primary a[href$="{Path(target).name}"]').first
            link.click()
            page.wait_for_url(f"**/{target}", timeout=LOAD_TIMEOUT_MS)
            h1 = page.locator("main h1").first.inner_text()
            assert h1.strip(), f"{target}: no heading after following the sidebar"
            assert page.locator(".bd-sidebar-primary a.current, .bd-sidebar-primary li.current").count() > 0
        assert not problems
    finally:
        visit.close()


def test_search_page_finds_lessons(browser, base_url):
    visit = Visit(browser, base_url)
    try:
        page, problems, _ = visit.open("search.html?q=cosine")
        page.wait_for_selector("#search-results ul.search li", timeout=LOAD_TIMEOUT_MS)
        hits = page.locator("#search-results ul.search li a").evaluate_all("els => els.map(e => e.href)")
        assert any("/notebooks/" in h for h in hits), hits
        assert not problems, problems
    finally:
        visit.close()


def test_an_exercise_solution_opens(browser, base_url, site_dir):
    with_solution = [rel for rel in _lessons(site_dir)
                     if 'class="solution' in (site_dir / rel).read_text(errors="replace")]
    assert with_solution, "no lesson page holds an exercise solution"
    visit = Visit(browser, base_url)
    try:
        page, problems, _ = visit.open(with_solution[0])
        sol = page.locator("div.solution").first
        body = sol.locator("section, .admonition-title ~ *").last
        button = sol.locator("button.toggle-button").first
        assert button.count() == 1, "the solution is not folded (no toggle button)"
        assert not body.is_visible(), "the solution is visible before it is opened"
        button.click()
        body.wait_for(state="visible", timeout=10_000)
        assert body.inner_text().strip()
        assert not problems, problems
    finally:
        visit.close()


def test_figures_page_fits_a_laptop_screen(browser, base_url, site_dir):
    visit = Visit(browser, base_url)
    try:
        page, problems, _ = visit.open("book/figures.html")
        widths = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth,"
                               " Math.max(...Array.from(document.querySelectorAll('table'))"
                               ".map(t => t.scrollWidth - t.parentElement.clientWidth), 0)]")
        assert widths[0] <= widths[1], f"horizontal scroll at 1280 px: page {widths[0]} px wide in {widths[1]}"
        assert widths[2] <= 1, f"a table is {widths[2]} px wider than its column"
        assert page.locator("tr.sbert-chapter").count() >= 1, "figures are not grouped by chapter"
        assert page.locator("p.sbert-env").count() == 1, "the environment is not stated once"
        assert not problems, problems
    finally:
        visit.close()
