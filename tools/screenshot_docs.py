"""Screenshots of the built site in headless Chromium, and checks of what they show.

Serves ``site/`` with ``python -m http.server`` on a free local port, starts
``chromium --headless`` with its DevTools protocol on another, and for each page below
waits until its scripts have done their work (KaTeX has rendered the math; the search
has listed its results), checks what the page shows, and saves a PNG screenshot:

* ``index.png``: the home page (its formula, its tables);
* ``api-divergences.png``: an API page, ``kl_divergence``'s reference;
* ``search.png``: the search for ``kl_divergence`` (the page opened with ``?q=``,
  which types it into the search box), with its results;
* ``guide-distillation.png``: a guide with display math and a table.

A page whose math stays unrendered (a raw ``\\(`` left in its text), whose tables are
missing or whose search lists nothing fails: exit status 1.  The PNGs go to
``site-screenshots/`` (or the folder given), a CI artifact.

Usage: ``python tools/screenshot_docs.py [SITE_DIR] [OUT_DIR]``.  Needs ``chromium``
(Debian's package) on the PATH, or ``CHROMIUM=/path/to/chromium``, and
``websocket-client`` (in the ``docs`` extra).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import websocket

ROOT = Path(__file__).resolve().parents[1]
WIDTH, HEIGHT = 1280, 900
TIMEOUT = 30.0

#: JavaScript: how many KaTeX formulas, tables and search results the page shows, and
#: whether any math was left as raw TeX.
COUNTS = """JSON.stringify({
  math: document.querySelectorAll("article .katex").length,
  tables: document.querySelectorAll("article table").length,
  results: document.querySelectorAll(".md-search-result__item").length,
  raw_math: (document.querySelector("article") || document.body).innerText.includes("\\\\("),
})"""

#: (file name, path on the site, what must be there: counts that must be > 0, and the
#: element scrolled to the top of the screenshot, if any)
PAGES = (
    ("index.png", "", ("math", "tables"), None),
    ("api-divergences.png", "api/divergences/", ("math", "tables"), "article .katex-display"),
    ("search.png", "?q=kl_divergence", ("results",), None),
    ("guide-distillation.png", "guides/distillation/", ("math", "tables"), "article table"),
)


def _chromium() -> str:
    found = (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    if not found:
        sys.exit("screenshot_docs: no chromium on PATH (apt-get install -y chromium)")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on port {port}")


@contextlib.contextmanager
def _process(command: list[str], **kwargs) -> Iterator[subprocess.Popen]:
    # Its own process group: Chromium's helpers (renderer, GPU, zygote) end with it.
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        **kwargs,
    )
    try:
        yield process
    finally:
        _signal_group(process, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait(timeout=10)
        time.sleep(0.5)  # the group's last writes to the profile


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


class Browser:
    """One page of headless Chromium, driven over the DevTools protocol."""

    def __init__(self, port: int) -> None:
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as r:
                    pages = [t for t in json.load(r) if t["type"] == "page"]
                if pages:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("chromium's DevTools did not answer")
            time.sleep(0.2)
        self.ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=TIMEOUT)
        self.next_id = 0
        self.call("Page.enable")
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=WIDTH,
            height=HEIGHT,
            deviceScaleFactor=1,
            mobile=False,
        )

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    def open(self, url: str, ready: tuple[str, ...]) -> dict:
        """Navigate, then wait until every count in ``ready`` is positive."""
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + TIMEOUT
        counts: dict = {}
        time.sleep(0.5)
        while time.monotonic() < deadline:
            if self.evaluate("document.readyState") == "complete":
                counts = json.loads(self.evaluate(COUNTS) or "{}")
                if all(counts.get(key) for key in ready):
                    break
            time.sleep(0.25)
        time.sleep(0.5)  # fonts and the last paint
        return counts

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))


def main(argv: list[str]) -> int:
    site = Path(argv[0]) if argv else ROOT / "site"
    out = Path(argv[1]) if len(argv) > 1 else ROOT / "site-screenshots"
    out.mkdir(parents=True, exist_ok=True)
    http_port, devtools_port = _free_port(), _free_port()
    server = [sys.executable, "-m", "http.server", str(http_port), "--bind", "127.0.0.1"]
    failures = []
    with (
        tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile,
        _process(server, cwd=site),
        _process(
            [
                _chromium(),
                "--headless",
                "--no-sandbox",  # CI runs as root
                "--disable-gpu",
                "--hide-scrollbars",
                "--no-first-run",
                f"--user-data-dir={profile}",
                f"--remote-debugging-port={devtools_port}",
                f"--window-size={WIDTH},{HEIGHT}",
                "about:blank",
            ]
        ),
    ):
        _wait_for_port(http_port)
        browser = Browser(devtools_port)
        for name, path, ready, scroll_to in PAGES:
            url = f"http://127.0.0.1:{http_port}/{path}"
            counts = browser.open(url, ready)
            if scroll_to:
                browser.evaluate(
                    f"document.querySelector({json.dumps(scroll_to)})?.scrollIntoView();"
                    "window.scrollBy(0, -160)"
                )
                time.sleep(0.5)
            png = out / name
            browser.screenshot(png)
            problems = [f"no {key}" for key in ready if not counts.get(key)]
            if counts.get("raw_math"):
                problems.append("math left as raw TeX")
            shown = ", ".join(f"{k} {v}" for k, v in counts.items() if k != "raw_math")
            status = "OK" if not problems else "FAILED: " + "; ".join(problems)
            print(f"{png}: /{path} ({shown}) {status}")
            if problems:
                failures.append(f"/{path}: {'; '.join(problems)}")
    for line in failures:
        print(f"screenshot_docs: {line}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
