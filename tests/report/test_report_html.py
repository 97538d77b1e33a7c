"""The HTML report: self-contained, escaped, and rendering cleanly in headless Chromium.

The browser test drives Chromium through the DevTools protocol over a pipe
(``--remote-debugging-pipe``: null-terminated JSON on file descriptors 3 and 4),
so it needs no driver or Python package beyond the standard library. It is
skipped, saying why, only when no Chromium is installed (Debian:
``apt-get install -y chromium``). A screenshot of the page is kept at
``$FTPROBE_REPORT_SCREENSHOT`` when set, else in the test's tmp folder.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import re
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ftprobe.cli.main import app
from tests.synthetic_study import make_small_tables, rename_labels, write_study

NASTY = '<img src=x onerror="window.pwned=1">&'


def _chromium() -> str | None:
    for name in (
        os.environ.get("FTPROBE_CHROMIUM"),
        "chromium",
        "chromium-browser",
        "google-chrome",
    ):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


class DevTools:
    """A minimal DevTools-protocol client over Chromium's remote-debugging pipe."""

    def __init__(self, exe: str, profile: Path) -> None:
        to_chrome_r, to_chrome_w = os.pipe()
        from_chrome_r, from_chrome_w = os.pipe()
        # Copies of the child's ends numbered 10 and up, so dup2 onto 3 and 4 clobbers neither.
        child_in = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
        child_out = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)

        def wire() -> None:
            os.dup2(child_in, 3)
            os.dup2(child_out, 4)

        flags = [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run",
            "--disable-default-apps", "--hide-scrollbars", f"--user-data-dir={profile}",
            "--remote-debugging-pipe", "--window-size=1280,900", "about:blank",
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            [exe, *flags],
            pass_fds=(3, 4, child_in, child_out),
            preexec_fn=wire,  # noqa: PLW1509 - runs before exec, only dup2
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for fd in {to_chrome_r, from_chrome_w, child_in, child_out}:
            os.close(fd)
        self.write_fd, self.read_fd = to_chrome_w, from_chrome_r
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self.read_fd], [], [], left)
            if ready:
                chunk = os.read(self.read_fd, 1 << 20)
                if not chunk:
                    raise EOFError("Chromium closed the DevTools pipe")
                self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, session: str | None = None, timeout: float = 60, **params: Any):
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self.write_fd, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, event: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        for seen in self.events:
            if seen.get("method") == event:
                return seen
        while True:
            message = self._receive(deadline)
            self.events.append(message)
            if message.get("method") == event:
                return message

    def close(self) -> None:
        with contextlib.suppress(OSError, EOFError, TimeoutError, RuntimeError):
            self.call("Browser.close", timeout=10)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for fd in (self.write_fd, self.read_fd):
            with contextlib.suppress(OSError):
                os.close(fd)


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small study whose labels carry HTML, reported through ``ftprobe report``."""
    tables = make_small_tables()
    rename_labels(tables, "b", NASTY)
    folder = tmp_path_factory.mktemp("report")
    write_study(folder, tables)
    out = CliRunner().invoke(app, ["report", str(folder)])
    assert out.exit_code == 0, out.output
    return folder


def test_report_is_self_contained_and_escaped(report_dir: Path) -> None:
    page = (report_dir / "report.html").read_text(encoding="utf-8")
    assert "Content-Security-Policy" in page
    # Nothing is fetched from elsewhere: every src is an inline data: URI.
    sources = re.findall(r'\bsrc="([^"]*)"', page)
    # One figure per analysis: the paper's nine and the controls' (a "nothing to show" here).
    assert len(sources) == 10 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert not re.search(r"<(link|iframe|object|embed)\b", page)
    assert NASTY not in page and "&lt;img src=x onerror=" in page
    assert "a: the dev split served as the training set" in page
    assert page.count('class="analysis"') == 10
    # The command also writes the findings beside the paper as Markdown.
    assert (report_dir / "findings.md").read_text(encoding="utf-8").count("\n## ") == 10


def test_report_renders_in_headless_chromium(report_dir: Path, tmp_path: Path) -> None:
    exe = _chromium()
    if exe is None:
        pytest.skip(
            "Chromium is not installed (Debian: apt-get install -y chromium chromium-driver)"
        )
    browser = DevTools(exe, tmp_path / "profile")
    try:
        target = browser.call("Target.createTarget", url="about:blank")["targetId"]
        session = browser.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            browser.call(f"{domain}.enable", session)
        browser.call("Page.navigate", session, url=(report_dir / "report.html").as_uri())
        browser.wait_for("Page.loadEventFired")

        def evaluate(expression: str) -> Any:
            result = browser.call(
                "Runtime.evaluate", session, expression=expression, returnByValue=True,
                awaitPromise=True,
            )  # fmt: skip
            return result["result"].get("value")

        # Every figure decodes to a real image.
        sizes = evaluate(
            "Promise.all(Array.from(document.images).map(i => i.decode().then("
            "() => [i.naturalWidth, i.naturalHeight], () => [0, 0])))"
        )
        assert len(sizes) == 10 and all(w > 100 and h > 50 for w, h in sizes), sizes
        assert evaluate("window.pwned === undefined")
        # Clicking a numeric header sorts its table.
        column = evaluate(
            """(() => {
              const header = t => Array.from(t.tHead.rows[0].cells)
                .find(c => c.textContent === "acc_after_mean");
              const table = Array.from(document.querySelectorAll("#analysis-1 table.sortable"))
                .find(header);
              const th = header(table);
              th.click(); th.click();
              return Array.from(table.tBodies[0].rows)
                .map(r => Number(r.cells[th.cellIndex].getAttribute("data-v")));
            })()"""
        )
        assert column and column == sorted(column, reverse=True)
        # Every section sets the paper's finding beside ours.
        assert evaluate("document.querySelectorAll('section.analysis .paper').length") == 9

        shot = browser.call("Page.captureScreenshot", session, format="png")["data"]
        path = Path(os.environ.get("FTPROBE_REPORT_SCREENSHOT") or tmp_path / "report.png")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot))
        print(f"report screenshot: {path}")
        assert path.stat().st_size > 10_000
    finally:
        browser.close()

    problems = [
        e["params"]
        for e in browser.events
        if (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] == "error")
        or e.get("method") == "Runtime.exceptionThrown"
        or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
    ]
    assert not problems, problems
    requested = [
        e["params"]["request"]["url"]
        for e in browser.events
        if e.get("method") == "Network.requestWillBeSent"
    ]
    assert requested and all(u.startswith(("file:", "data:")) for u in requested), requested
