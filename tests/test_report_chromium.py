"""The report as a person sees it: rendered by headless Chromium, driven over the DevTools
protocol through a pipe (stdlib only).

Checks that the page loads at a 1280 px wide viewport without horizontal scrolling, that every
chart is an SVG with a visible size and drawn marks, that the per-class rows section shows rows
of text, that the screenshot is not blank, and that nothing was logged as an error (console
errors, uncaught exceptions, blocked resources). Skipped only when no Chromium binary exists.
``ZSLABEL_REPORT_SCREENSHOT=PATH`` also saves a PNG of the per-class rows section there.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from zslabel.config import JobConfig
from zslabel.report import write_report
from zslabel.runner import run_job

from .conftest import LABELS

BINARIES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TIMEOUT_S = 60.0
# A common laptop width: the report must fit it without scrolling sideways.
VIEWPORT = 1280


def chromium_binary() -> str | None:
    given = os.environ.get("ZSLABEL_CHROMIUM")
    if given:
        return given
    return next((path for name in BINARIES if (path := shutil.which(name))), None)


pytestmark = pytest.mark.skipif(
    chromium_binary() is None,
    reason="no Chromium binary found (apt-get install chromium, or set ZSLABEL_CHROMIUM)",
)


class DevTools:
    """A minimal Chrome DevTools Protocol client over --remote-debugging-pipe.

    Chromium reads commands on its fd 3 and writes replies and events on fd 4, each message a
    JSON object ended by a NUL byte.
    """

    def __init__(self, binary: str, profile: Path) -> None:
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def wire_fds() -> None:  # in the child, before exec: the pipe ends become fds 3 and 4
            # Move both ends above 4 first, so that neither is overwritten by the other's dup2,
            # and mark 3 and 4 inheritable (dup2 onto itself would keep close-on-exec).
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_chrome_r, from_chrome_w)]
            for target, fd in zip((3, 4), high, strict=True):
                os.dup2(fd, target)
                os.set_inheritable(target, True)

        self.process = subprocess.Popen(
            [
                binary,
                "--headless",
                "--remote-debugging-pipe",
                "--no-sandbox",  # CI runs as root
                "--disable-gpu",
                "--no-first-run",
                "--disable-extensions",
                f"--user-data-dir={profile}",
                "--window-size=1200,900",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=wire_fds,
            close_fds=False,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        for reply in self._messages():
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            self.events.append(reply)
        raise AssertionError("unreachable")

    def wait_for(self, event: str) -> dict[str, Any]:
        for message in self._messages():
            self.events.append(message)
            if message.get("method") == event:
                return message
        raise AssertionError("unreachable")

    def _messages(self) -> Iterator[dict[str, Any]]:
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                yield json.loads(raw)
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_chrome], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._from_chrome, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buffer += chunk

    def close(self) -> None:
        with contextlib.suppress(OSError, RuntimeError, TimeoutError):
            self.send("Browser.close")
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_chrome)
        os.close(self._from_chrome)


INSPECT = """JSON.stringify({
  title: document.title,
  plots: [...document.querySelectorAll('svg.plot')].map(svg => {
    const box = svg.getBoundingClientRect();
    return {kind: svg.dataset.plot, width: box.width, height: box.height,
            marks: svg.querySelectorAll('rect, circle, polyline').length};
  }),
  sections: [...document.querySelectorAll('section')].map(s => s.id),
  tables: document.querySelectorAll('table').length,
  text: document.body.innerText,
  scrollWidth: document.documentElement.scrollWidth,
  viewport: window.innerWidth,
  classRows: [...document.querySelectorAll('#class-rows .class-rows')].map(c => ({
    name: c.querySelector('h3').innerText,
    tables: c.querySelectorAll('table.examples').length,
    texts: [...c.querySelectorAll('table.examples tbody td:last-child')].map(t => t.innerText),
  })),
  classRowsBox: (() => {
    const s = document.getElementById('class-rows');
    if (!s) return null;
    const r = s.getBoundingClientRect();
    return {x: r.left + scrollX, y: r.top + scrollY, width: r.width, height: r.height};
  })(),
})"""


def render(
    binary: str, page: Path, profile: Path, section_shot: Path | None = None
) -> tuple[dict[str, Any], list[str], bytes]:
    """Load ``page`` at a VIEWPORT px wide window; return what the DOM shows, the errors logged,
    and a PNG screenshot (of the per-class rows section into ``section_shot`` too)."""
    tools = DevTools(binary, profile)
    try:
        target = tools.send("Target.createTarget", url="about:blank")["targetId"]
        session = tools.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            tools.send(f"{domain}.enable", session)
        tools.send(
            "Emulation.setDeviceMetricsOverride",
            session,
            width=VIEWPORT,
            height=900,
            deviceScaleFactor=1,
            mobile=False,
        )
        tools.send("Page.navigate", session, url=page.resolve().as_uri())
        tools.wait_for("Page.loadEventFired")
        shown = tools.send("Runtime.evaluate", session, expression=INSPECT, returnByValue=True)[
            "result"
        ]["value"]
        shot = tools.send("Page.captureScreenshot", session, format="png")["data"]
        box = json.loads(shown)["classRowsBox"]
        if section_shot is not None and box:
            clip = {**box, "height": min(box["height"], 4000.0), "scale": 1}
            section = tools.send(
                "Page.captureScreenshot",
                session,
                format="png",
                captureBeyondViewport=True,
                clip=clip,
            )["data"]
            section_shot.write_bytes(base64.b64decode(section))
    finally:
        tools.close()
    return json.loads(shown), _errors(tools.events), base64.b64decode(shot)


def _errors(events: list[dict[str, Any]]) -> list[str]:
    errors = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            errors.append(str(details.get("exception", {}).get("description") or details))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in {"error", "assert"}:
            errors.append(" ".join(str(a.get("value", a)) for a in params.get("args", [])))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            errors.append(str(params["entry"].get("text", "")))
    return errors


def png_colours(png: bytes) -> int:
    """How many distinct byte values the decompressed image data holds (a blank page: ~2)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    data, position = b"", 8
    while position < len(png):
        length = int.from_bytes(png[position : position + 4], "big")
        kind = png[position + 4 : position + 8]
        if kind == b"IDAT":
            data += png[position + 8 : position + 8 + length]
        position += 12 + length
    return len(set(zlib.decompress(data)))


@pytest.fixture
def labeled_output(tmp_path: Path, write_parquet: Callable[..., Path]) -> Path:
    """An output folder of two fake sources (diagnostics), calibration and a gold column."""
    # A long unbroken token (a URL) in some texts: the page must still not scroll sideways.
    url = " https://example.com/" + "x" * 240  # shown shortened, ending in an ellipsis
    texts = [
        f"item {i}: {'market bank' if i % 3 else 'rain storm'} and more{url if i % 5 == 0 else ''}"
        for i in range(90)
    ]
    gold = [LABELS[i % 3] for i in range(90)]
    path = write_parquet({"text": texts, "topic": gold})
    calibration = write_parquet({"text": texts[:12], "label": gold[:12]}, name="gold.parquet")
    config = JobConfig.from_dict(
        {
            "input": {"path": str(path), "shard_rows": 30},
            "labels": LABELS,
            "sources": [{"kind": "fake"}, {"kind": "fake", "seed": 7, "name": "second"}],
            "calibration": {"gold": str(calibration), "column": "label"},
            # The fake sources score near chance: without the floor each class accepts rows,
            # so that every kind of example row is on the page.
            "selection": {"min_above_chance": None},
            "output": {"dir": str(tmp_path / "out")},
        }
    )
    return run_job(config).output_dir


def test_the_harness_reports_console_errors_and_exceptions(tmp_path: Path) -> None:
    """Without this, "no console errors" below could pass because nothing is ever caught."""
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>broken</title>"
        '<meta http-equiv="Content-Security-Policy" content="img-src \'none\'"></head><body>'
        '<img src="https://cdn.example.com/chart.png">'
        "<script>console.error('on purpose'); undefinedFunction();</script></body></html>"
    )
    shown, errors, _ = render(str(chromium_binary()), page, tmp_path / "profile")
    assert shown["title"] == "broken"
    assert any("on purpose" in e for e in errors)
    assert any("undefinedFunction" in e for e in errors)
    assert any("cdn.example.com" in e for e in errors)  # a blocked external resource


def test_report_renders_every_plot_without_console_errors(
    labeled_output: Path, tmp_path: Path
) -> None:
    write_report(labeled_output, gold_column="topic")
    metrics = labeled_output / "student" / "metrics.json"
    metrics.parent.mkdir()
    rounds = [{"round": i, "student_accuracy": 0.7 + i / 20, "agreement": 0.8} for i in range(3)]
    metrics.write_text(json.dumps({"rounds": rounds}))
    write_report(labeled_output, gold_column="topic")

    screenshot = Path(os.environ.get("ZSLABEL_REPORT_SCREENSHOT") or tmp_path / "class-rows.png")
    shown, errors, png = render(
        str(chromium_binary()), labeled_output / "report.html", tmp_path / "profile", screenshot
    )

    assert errors == []
    assert shown["viewport"] == VIEWPORT
    assert shown["scrollWidth"] <= VIEWPORT  # no horizontal scrolling
    assert [c["name"] for c in shown["classRows"]] == LABELS
    for shown_class in shown["classRows"]:
        texts = shown_class["texts"]
        assert shown_class["tables"] == 3, shown_class  # most, least confident; abstained
        assert texts, shown_class
        assert all(t.startswith("item ") for t in texts), texts
        # Long texts are shortened for display.
        assert all(
            len(t) <= 201 and ("example.com" not in t or t.endswith("\u2026")) for t in texts
        )
    assert png_colours(screenshot.read_bytes()) > 20
    assert shown["title"].startswith("zslabel report")
    kinds = [plot["kind"] for plot in shown["plots"]]
    # Classes bar chart, one histogram per class, coverage curve, confusion matrix,
    # reliability diagram, source diagnostics bars, student rounds.
    assert kinds.count("histogram") == len(LABELS)
    assert kinds.count("heatmap") == 1
    assert kinds.count("bar") == 2
    assert kinds.count("line") == 3
    for plot in shown["plots"]:
        assert plot["width"] > 100, plot
        assert plot["height"] > 50, plot
        assert plot["marks"] > 2, plot
    assert {
        "overview",
        "classes",
        "confidence",
        "gold",
        "reliability",
        "sources",
        "student",
        "class-rows",
    } <= set(shown["sections"])
    assert "student accuracy" in shown["text"]  # headers and legends in words, not JSON keys
    assert "student_accuracy" not in shown["text"]
    assert png_colours(png) > 20  # something was drawn
