"""The HTML run report: sections, numbers, thresholds, and crawled strings escaped (never run)."""

from __future__ import annotations

import base64
import fcntl
import json
import os
import re
import select
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from lusomix.errors import UsageError
from lusomix.mix.build import build_mix
from lusomix.mix.recipe import MixRecipe
from lusomix.pipeline.report import write_report
from lusomix.pipeline.report_html import CSP, wants_log_axis
from lusomix.stages.schema import CLUSTERS_SCHEMA, DOCS_SCHEMA, REJECTED_SCHEMA

SCRIPT_TITLE = "<script>alert(1)</script>"
# if this ever ran, the DOM would carry the attribute data-pwned="1"
MARKER_TITLE = "<script>document.body.setAttribute('data-pwned', '1')</script>"
EVIL_URL = 'http://mau.pt/"><img src=x onerror=alert(2)>'
VARIETIES = ["pt_PT", "pt_PT", "pt_BR", "unknown"]
TLDS = ["pt", "br", "com", "ao"]


def make_run(root: Path, n: int = 120) -> Path:
    rng = np.random.default_rng(5)
    for sub in ("docs", "rejected", "dedup"):
        (root / sub).mkdir(parents=True)
    cols: dict[str, list] = {}
    for field in DOCS_SCHEMA:
        if pa.types.is_floating(field.type):
            cols[field.name] = rng.random(n).round(3).tolist()
        elif pa.types.is_integer(field.type):
            cols[field.name] = rng.integers(0, 30, n).tolist()
        elif pa.types.is_boolean(field.type):
            cols[field.name] = (rng.random(n) < 0.1).tolist()
        else:
            cols[field.name] = [None] * n
    cols.update(
        id=[f"d{i}" for i in range(n)],
        url=[EVIL_URL if i == 1 else f"http://site{i % 9}.{TLDS[i % 4]}/p{i}" for i in range(n)],
        domain=[f"site{i % 9}.{TLDS[i % 4]}" for i in range(n)],
        tld=[TLDS[i % 4] for i in range(n)],
        crawl_date=[datetime(2005 + i % 6, 3, 1, tzinfo=UTC) for i in range(n)],
        title=[{0: SCRIPT_TITLE, 2: MARKER_TITLE}.get(i, f"Notícia número {i}") for i in range(n)],
        text=["<b>negrito</b> " + "texto de exemplo " * (5 + i % 40) for i in range(n)],
        n_words=[2 + 3 * (5 + i % 40) for i in range(n)],
        lang=["pt"] * n,
        variety=[VARIETIES[i % 4] for i in range(n)],
        quality_flags=[["dup_line_frac"] if i % 6 == 0 else [] for i in range(n)],
        minhash_bands=[[]] * n,
    )
    pq.write_table(pa.table(cols, schema=DOCS_SCHEMA), root / "docs" / "part-00000.parquet")
    reasons = ["not_portuguese"] * 30 + ["too_short"] * 12 + ["http_status"] * 8
    rejected = {name: [None] * len(reasons) for name in REJECTED_SCHEMA.names}
    rejected.update(
        id=[f"r{i}" for i in range(len(reasons))],
        reason=reasons,
        url=["http://rej.es/<script>x</script>"] + [f"http://rej.es/{i}" for i in range(1, len(reasons))],
        n_words=[40 if r == "not_portuguese" else None for r in reasons],
    )
    pq.write_table(pa.table(rejected, schema=REJECTED_SCHEMA), root / "rejected" / "part-00000.parquet")
    sizes = {i: (f"c{i // 5}", 5) for i in range(10)} | {10: ("c10", 2), 11: ("c10", 2)}
    clusters = [
        {
            "id": f"d{i}",
            "cluster_id": sizes.get(i, (f"s{i}", 1))[0],
            "cluster_size": sizes.get(i, ("", 1))[1],
            "keep": i not in sizes or i in (0, 5, 10),
        }
        for i in range(n)
    ]
    pq.write_table(pa.Table.from_pylist(clusters, schema=CLUSTERS_SCHEMA), root / "dedup" / "clusters.parquet")
    (root / "stats.json").write_text(
        json.dumps(
            {
                "records_by_type": {"response": 400, "request": 380, "revisit": 20},
                "kept": n,
                "rejected_by_reason": {"not_portuguese": 30, "too_short": 12, "http_status": 8},
                "damaged_files": ["broken-<i>1</i>.warc.gz"],
            }
        )
    )
    build_mix(root, MixRecipe(name="demo"), root / "mixes" / "demo")
    return root


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, str]:
    run = make_run(tmp_path_factory.mktemp("run"))
    path = Path(
        write_report(  # a local run's report: its path as a string
            run,
            thresholds={
                "gopher_dup_line_frac": ("max", 0.287),
                "gopher_mean_word_len": [("min", 0.2), ("max", 0.9)],
                "not_a_column": ("max", 1.0),
            },
        )
    )
    return path, path.read_text(encoding="utf-8")


def test_report_has_every_section(report):
    path, page = report
    assert path.name == "index.html" and path.parent.name == "report"
    for title in (
        "Funnel",
        "Varieties",
        "Reject reasons",
        "Quality signals",
        "Document length",
        "Dedup clusters",
        "Mixes",
        "Sample documents",
        "Extract pass summary (stats.json)",
    ):
        assert f">{title}</h2>" in page
    assert page.count("data:image/png;base64,") >= 7  # funnel, varieties ×3, rejects, signals, clusters
    assert "<script" not in page.lower().replace("&lt;script", "")  # no script element at all
    assert 'http-equiv="Content-Security-Policy"' in page


def _row(page: str, label: str) -> list[str]:
    match = re.search(rf"<tr><td>{re.escape(label)}</td>(.*?)</tr>", page)
    assert match, label
    return re.findall(r"<td[^>]*>(.*?)</td>", match.group(1))


def test_funnel_counts(report):
    _, page = report
    assert _row(page, "records")[0] == "800"
    assert _row(page, "captures")[0] == "400"
    assert _row(page, "extracted")[0] == "150"  # 120 docs + 30 rejected after extraction
    assert _row(page, "Portuguese")[0] == "120"
    assert _row(page, "kept documents")[0] == "100"  # every 6th flagged
    # keep=false: d1-4, d6-9, d11; of these d6 is also flagged → 8 more dropped
    assert _row(page, "dedup keep")[0] == "92"
    manifest = json.loads((report[0].parents[1] / "mixes" / "demo" / "manifest.json").read_text())
    assert _row(page, "mix demo")[0] == f"{manifest['totals']['documents_distinct']:,}"


def test_shares_rejects_clusters_thresholds(report):
    _, page = report
    assert _row(page, "pt_PT (European)")[:2] == ["60", "50.0%"]
    assert _row(page, "pt_BR (Brazilian)")[:2] == ["30", "25.0%"]
    assert _row(page, "not_portuguese")[0] == "30"
    assert _row(page, "5–99")[:2] == ["2", "10"]  # two clusters of 5
    assert _row(page, "2–3")[:2] == ["1", "2"]
    dup = _row(page, "gopher_dup_line_frac")
    assert dup[0] == "120" and dup[4] == "max 0.287"
    values = pl.read_parquet(report[0].parents[1] / "docs")["gopher_dup_line_frac"]
    assert dup[5] == f"{(values <= 0.287).mean():.1%}"
    assert _row(page, "gopher_mean_word_len")[4] == "min 0.2, max 0.9"
    assert "Thresholds for signals not in docs/: not_a_column" in page
    assert "broken-&lt;i&gt;1&lt;/i&gt;.warc.gz" in page


def test_crawled_strings_are_escaped(report):
    _, page = report
    assert SCRIPT_TITLE not in page and MARKER_TITLE not in page
    assert "onerror=alert(2)>" not in page
    assert "<b>negrito" not in page
    assert "http://rej.es/<script>" not in page


@pytest.fixture(scope="module")
def small_report(tmp_path_factory) -> Path:
    """12 documents: every one is among the 15 samples, the script title included."""
    return Path(write_report(make_run(tmp_path_factory.mktemp("small"), n=12)))


def test_sample_shows_the_script_title_as_text(small_report):
    page = small_report.read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert SCRIPT_TITLE not in page


CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",  # these machines run the tests as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-pipe",
]
needs_chromium = pytest.mark.skipif(
    not shutil.which("chromium") and not shutil.which("apt-get"),
    reason="chromium not installed and no apt-get to install it (Debian's chromium package, `make browser`)",
)


@dataclass
class PageView:
    """What the browser saw of one page: its DOM after load, errors, requests, images, headings."""

    dom: str
    errors: list[str]
    requests: list[str]  # the URLs it fetched (data: URLs included)
    blocked: list[str]  # the URLs it refused to fetch, with the reason (csp)
    images: list[dict]
    sections: list[str]
    scripts: int
    size: tuple[int, int]


class Chromium:
    """Headless chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe: JSON messages
    ending in NUL, commands on the browser's fd 3, replies and events on its fd 4): no websocket package, no
    port. Its stderr goes to ``log``."""

    def __init__(self, profile: Path, log: Path):
        if not shutil.which("chromium"):
            pytest.fail("chromium is not installed: `make browser` installs it (apt-get install chromium)")
        to_browser, self._commands = os.pipe()
        self._replies, from_browser = os.pipe()
        # bash puts the pipe ends on fds 3 and 4; copies at 10 and up cannot be overwritten by that
        ends = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_browser, from_browser)]
        for fd in (to_browser, from_browser):
            os.close(fd)
        wire = f'exec "$@" 3<&{ends[0]} 4>&{ends[1]} {ends[0]}<&- {ends[1]}>&-'
        with log.open("w") as stderr:
            self.process = subprocess.Popen(
                ["bash", "-c", wire, "bash", "chromium", *CHROMIUM_FLAGS, f"--user-data-dir={profile}"],
                pass_fds=ends,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        for fd in ends:
            os.close(fd)
        self.log, self.events, self._buffer, self._last_id = log, [], b"", 0

    def _receive(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._replies], [], [], left)[0]:
                raise TimeoutError(f"chromium did not answer; its log: {self.log}")
            chunk = os.read(self._replies, 1 << 20)
            if not chunk:
                raise EOFError(f"chromium closed the DevTools pipe; its log: {self.log}")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, session: str | None = None, **params) -> dict:
        self._last_id += 1
        command = {"id": self._last_id, "method": method, "params": params} | (
            {"sessionId": session} if session else {}
        )
        os.write(self._commands, json.dumps(command).encode() + b"\0")
        deadline = time.monotonic() + 120
        while (message := self._receive(deadline)).get("id") != self._last_id:
            self.events.append(message)
        if "error" in message:
            raise RuntimeError(f"{method}: {message['error']}")
        return message["result"]

    def wait_for(self, method: str, session: str) -> None:
        deadline = time.monotonic() + 120
        seen = {(e.get("method"), e.get("sessionId")) for e in self.events}
        while (method, session) not in seen:
            event = self._receive(deadline)
            self.events.append(event)
            seen.add((event.get("method"), event.get("sessionId")))

    def open(self, page: Path, screenshot: Path | None = None) -> PageView:
        """Load ``page`` in a new tab 1280 px wide; what it logged and requested, read once it has loaded."""
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        tab = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable", tab)
        self.send("Emulation.setDeviceMetricsOverride", tab, width=1280, height=900, deviceScaleFactor=1, mobile=False)
        self.send("Page.navigate", tab, url=page.as_uri())
        self.wait_for("Page.loadEventFired", tab)
        found = self.send("Runtime.evaluate", tab, returnByValue=True, expression=PAGE_FACTS)["result"]["value"]
        if screenshot:
            clip = {"x": 0, "y": 0, "width": found["width"], "height": found["height"], "scale": 1}
            shot = self.send("Page.captureScreenshot", tab, format="png", captureBeyondViewport=True, clip=clip)
            screenshot.write_bytes(base64.b64decode(shot["data"]))
        events = [(e["method"], e["params"]) for e in self.events if e.get("sessionId") == tab and "method" in e]
        errors = [p["entry"]["text"] for m, p in events if m == "Log.entryAdded" and p["entry"]["level"] == "error"]
        errors += [p["exceptionDetails"]["text"] for m, p in events if m == "Runtime.exceptionThrown"]
        errors += [
            " ".join(str(a.get("value", "")) for a in p["args"])
            for m, p in events
            if m == "Runtime.consoleAPICalled" and p["type"] in ("error", "assert")
        ]
        # a refused request is announced like any other, then fails with the reason it was blocked
        urls = {p["requestId"]: p["request"]["url"] for m, p in events if m == "Network.requestWillBeSent"}
        refused = {
            p["requestId"]: p["blockedReason"]
            for m, p in events
            if m == "Network.loadingFailed" and p.get("blockedReason")
        }
        blocked = [f"{urls.get(r, '?')} ({why})" for r, why in refused.items()]
        return PageView(
            found["dom"],
            errors,
            [url for r, url in urls.items() if r not in refused],
            blocked,
            found["images"],
            found["sections"],
            found["scripts"],
            (found["width"], found["height"]),
        )

    def close(self) -> None:
        try:
            self.send("Browser.close")
            self.process.wait(timeout=30)
        except (EOFError, TimeoutError, subprocess.TimeoutExpired):
            pass  # it may go before it answers; killed below if it has not
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            os.close(self._commands)
            os.close(self._replies)


# evaluated by DevTools after the load event (the page's own CSP forbids scripts, not DevTools)
PAGE_FACTS = """({
  dom: document.documentElement.outerHTML,
  images: [...document.images].map(i => ({alt: i.alt, complete: i.complete, naturalWidth: i.naturalWidth})),
  sections: [...document.querySelectorAll("h2[id]")].map(h => h.id),
  scripts: document.scripts.length,
  width: document.documentElement.scrollWidth,
  height: document.documentElement.scrollHeight,
})"""


@pytest.fixture(scope="module")
def demo_like_report(tmp_path_factory) -> Path:
    """The small run (every sample shown, the script titles too) with what a demo run adds to stats.json:
    damaged input spans in today's form and the pretraining result, so every section is there."""
    run = make_run(tmp_path_factory.mktemp("demo_like"), n=12)
    stats = json.loads((run / "stats.json").read_text())
    stats["damaged_files"].append(
        {
            "file": "damaged-truncated.warc.gz",
            "problem": "1 damaged span(s), first at bytes 5654-6541: the file ends inside a gzip member",
            "spans": [{"start": 5654, "end": 6541, "records": 1, "why": "the file ends inside a gzip member"}],
        }
    )
    stats["pretrain"] = {  # as the demo's pretrain pass leaves it
        "steps": 40,
        "first_loss": 7.65303,
        "last_loss": 6.25953,
        "tokens_per_s": 3718.4,
        "val_loss_pt_PT": 6.33072,
        "checkpoint": str(run / "pretrain" / "demo" / "checkpoints" / "step-000040"),
        "workers": 2,
    }
    (run / "stats.json").write_text(json.dumps(stats))
    return Path(write_report(run))


@pytest.fixture(scope="module")
def in_browser(demo_like_report, tmp_path_factory) -> tuple[PageView, Path]:
    folder = tmp_path_factory.mktemp("browser")
    browser = Chromium(folder / "profile", folder / "chromium.log")
    try:
        screenshot = folder / "report.png"
        return browser.open(demo_like_report, screenshot), screenshot
    finally:
        browser.close()


@needs_chromium
def test_browser_shows_the_title_as_text_and_runs_nothing(in_browser):
    view, _ = in_browser
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in view.dom  # the browser parsed it as text...
    assert "<script>alert(1)</script>" not in view.dom and view.scripts == 0  # ...and no script element exists
    assert "&lt;img src=x onerror=alert(2)&gt;" in view.dom  # the URL's markup is text too
    assert not re.search(r"<img[^>]*onerror", view.dom)
    assert 'data-pwned="1"' not in view.dom  # the marker script did not run


@needs_chromium
def test_browser_loads_the_report_without_errors_or_requests(in_browser, demo_like_report):
    view, _ = in_browser
    assert view.errors == [] and view.blocked == []
    assert view.requests[0] == demo_like_report.as_uri()
    assert all(url.startswith("data:image/png;base64,") for url in view.requests[1:]), view.requests


@needs_chromium
def test_browser_decodes_every_chart_and_shows_every_section(in_browser):
    view, _ = in_browser
    assert len(view.images) >= 7
    assert [i["alt"] for i in view.images if not (i["complete"] and i["naturalWidth"] > 0)] == []
    for section in ("funnel", "varieties", "quality-signals", "dedup-clusters", "mixes", "pretraining"):
        assert section in view.sections
    assert "damaged-input-files" in view.sections
    assert "damaged-truncated.warc.gz" in view.dom and "5654–6541" in view.dom


@needs_chromium
def test_browser_screenshot_of_the_whole_page(in_browser):
    view, screenshot = in_browser
    with Image.open(screenshot) as image:
        assert image.format == "PNG"
        assert image.size == view.size  # the whole page, not the first screen
    assert view.size[0] >= 1100 and view.size[1] > 3000


@needs_chromium
def test_browser_check_sees_errors_and_requests_and_the_csp_blocks_them(tmp_path):
    """The checks above would notice: a script's error and an image from elsewhere are seen on a page without
    the report's CSP, and with it neither the script nor the request happens (chromium says so as errors)."""
    with socket.socket() as closed:  # bound, not listening: a connection to it is refused at once, and stays local
        closed.bind(("127.0.0.1", 0))
        far = f"http://127.0.0.1:{closed.getsockname()[1]}/x.png"
        hostile = f'<img alt="far" src="{far}"><script>console.error("ran")</script>'
        open_page, guarded = tmp_path / "open.html", tmp_path / "guarded.html"
        open_page.write_text(f"<!doctype html><html><body>{hostile}</body></html>")
        guarded.write_text(
            f'<!doctype html><html><head><meta http-equiv="Content-Security-Policy" content="{CSP}"></head>'
            f"<body>{hostile}</body></html>"
        )
        browser = Chromium(tmp_path / "profile", tmp_path / "chromium.log")
        try:
            unguarded, held = browser.open(open_page), browser.open(guarded)
        finally:
            browser.close()
    assert "ran" in unguarded.errors and far in unguarded.requests
    assert unguarded.images == [{"alt": "far", "complete": True, "naturalWidth": 0}]
    assert "ran" not in held.errors and far not in held.requests
    assert held.blocked == [f"{far} (csp)"]
    assert any("Content Security Policy" in e for e in held.errors), held.errors


def test_funnel_axis_is_linear_within_two_orders_of_magnitude():
    assert not wants_log_axis([266, 156, 136, 121, 111, 96, 96, 62])  # the demo run's funnel
    assert not wants_log_axis([1_000, 400, 10, 0])  # exactly 100x; an empty step is left out of the span
    assert wants_log_axis([800, 400, 42, 12, 10, 2, 1])
    assert wants_log_axis([12_000_000, 3_500_000, 119_000])
    assert not wants_log_axis([]) and not wants_log_axis([0, 0])


def test_funnel_chart_says_log_scale_only_when_it_is(report, demo_like_report):
    _, page = report  # 800 records down to the mix's distinct documents: within 100x
    assert '<img alt="documents at each pass" src=' in page
    assert '<img alt="documents at each pass (log scale)" src=' in demo_like_report.read_text()  # 800 down to 1


def test_bad_run_folder(tmp_path):
    with pytest.raises(UsageError, match="no such run folder"):
        write_report(tmp_path / "missing")
    with pytest.raises(UsageError, match="no docs/ or rejected/"):
        write_report(tmp_path)


def test_thresholds_from_quality_rules():
    from lusomix.filters.quality import thresholds
    from lusomix.pipeline.report import thresholds_from_rules

    limits = thresholds_from_rules(thresholds("fineweb2-por"))
    assert limits["gopher_dup_line_frac"] == [("max", 0.287)]
    assert limits["gopher_mean_word_len"] == [("min", 3.0), ("max", 13.0)]
    assert limits["n_words"] == [("min", 50.0), ("max", 100_000.0)]
