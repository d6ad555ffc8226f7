"""The HTML report in a real browser: headless Chromium over the DevTools protocol.

Chromium runs with ``--remote-debugging-pipe`` (DevTools messages as NUL-terminated JSON on file
descriptors 3 and 4), so no websocket library and no free port are needed. The test opens
index.html from disk, waits for the load event, and asserts that every image decoded
(``naturalWidth > 0``) and that nothing was logged at error level (failed loads included).
Skipped only when no Chromium is installed (``.ci/run`` installs Debian's ``chromium``).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bench.cli import cli

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))
                 if p), None)


class DevTools:
    """A minimal Chrome DevTools protocol client over --remote-debugging-pipe."""

    def __init__(self, binary: str, profile: Path) -> None:
        to_chrome_r, self._w = os.pipe()
        self._r, from_chrome_w = os.pipe()
        # Chromium reads commands on fd 3 and writes replies and events on fd 4.
        fds = {3: to_chrome_r, 4: from_chrome_w}

        def child() -> None:
            for target, source in fds.items():
                os.dup2(source, target)
                os.set_inheritable(target, True)

        self.proc = subprocess.Popen(
            [binary, "--headless", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
             "--no-first-run", "--no-default-browser-check", "--disable-extensions",
             "--allow-file-access-from-files", f"--user-data-dir={profile}",
             "--window-size=1280,900", "about:blank"],
            pass_fds=(3, 4), preexec_fn=child, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ) if sys.platform != "win32" else None
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def _read_message(self, deadline: float) -> dict[str, Any]:
        import select

        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no reply from chromium")
            ready, _, _ = select.select([self._r], [], [], left)
            if ready:
                chunk = os.read(self._r, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium closed the DevTools pipe")
                self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)

    def send(self, method: str, session: str | None = None, timeout: float = 30,
             **params: Any) -> dict[str, Any]:
        self._next_id += 1
        request: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            request["sessionId"] = session
        os.write(self._w, json.dumps(request).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            message = self._read_message(deadline)
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, method: str, timeout: float = 30) -> dict[str, Any]:
        for event in self.events:
            if event.get("method") == method:
                return event
        deadline = time.monotonic() + timeout
        while True:
            message = self._read_message(deadline)
            self.events.append(message)
            if message.get("method") == method:
                return message

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except Exception:
            pass
        if self.proc is not None:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        os.close(self._w)
        os.close(self._r)


def load_page(url: str, profile: Path, screenshot: Path | None = None,
              script: str | None = None) -> dict[str, Any]:
    """Open ``url``; return its images' states, every error-level message it logged, and the
    value of ``script`` (a JavaScript expression) evaluated in the page."""
    assert CHROMIUM
    tools = DevTools(CHROMIUM, profile)
    try:
        target = tools.send("Target.createTarget", url="about:blank")["targetId"]
        session = tools.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            tools.send(f"{domain}.enable", session)
        tools.send("Page.navigate", session, url=url)
        tools.wait_for("Page.loadEventFired", timeout=60)
        images = tools.send(
            "Runtime.evaluate", session, returnByValue=True, awaitPromise=True,
            expression="Promise.all(Array.from(document.images).map(i => i.decode()"
                       ".catch(() => null))).then(() => Array.from(document.images).map("
                       "i => ({src: i.getAttribute('src'), complete: i.complete, "
                       "width: i.naturalWidth})))",
        )["result"]["value"]
        value = None
        if script is not None:
            value = tools.send("Runtime.evaluate", session, returnByValue=True,
                               awaitPromise=True, expression=script)["result"].get("value")
        if screenshot is not None:
            data = tools.send("Page.captureScreenshot", session, format="png",
                              captureBeyondViewport=True)["data"]
            screenshot.write_bytes(base64.b64decode(data))
        errors = []
        for event in tools.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Log.entryAdded" and params["entry"]["level"] == "error":
                errors.append(params["entry"].get("text", ""))
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                errors.append(json.dumps(params.get("args")))
            elif method == "Runtime.exceptionThrown":
                errors.append(json.dumps(params.get("exceptionDetails")))
        return {"images": images, "errors": errors, "value": value}
    finally:
        tools.close()


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")
def test_report_loads_in_headless_chromium(tmp_path):
    store = tmp_path / "r.sqlite"
    runner = CliRunner()
    result = runner.invoke(cli, ["run", "--detectors", "iforest,hbos,ecod,knn[n_neighbors=5000]",
                                 "--datasets", "synthetic:global,synthetic:local",
                                 "--seeds", "1,2", "--store", str(store), "-q"])
    assert result.exit_code == 1, result.output  # the knn cells fail (too few rows)
    out = tmp_path / "report"
    result = runner.invoke(cli, ["report", "--store", str(store), "--out", str(out)])
    assert result.exit_code == 0, result.output
    shot = Path(os.environ.get("BENCH_REPORT_SCREENSHOT", tmp_path / "report.png"))
    page = load_page((out / "index.html").as_uri(), tmp_path / "profile", screenshot=shot,
                     script=SORT_CHECK)
    assert len(page["images"]) == 3, page  # CD diagram, box plot, Pareto view
    for image in page["images"]:
        assert image["complete"] and image["width"] > 0, image
    assert page["errors"] == []
    assert shot.stat().st_size > 10_000
    check = page["value"]
    # a click on a header sorts by it: AUROC descending, a second click ascending; the
    # detector without a result (knn: "—") stays last both times
    down, up = check["down"], check["up"]
    assert down == sorted(down, reverse=True) and len(down) == 3, check
    assert up == sorted(up) and sorted(up) == sorted(down), check
    assert check["last"] == ["—"], check
    assert check["names"][0] != check["names_up"][0]
    assert check["sticky"] == "sticky"  # the first column stays in view


# Click the summary table's AUROC header twice; read the column (numbers, then the rest) and
# whether the first column is sticky.
SORT_CHECK = """(() => {
  const table = document.querySelector("table.board");
  const heads = Array.from(table.querySelectorAll("thead th"));
  const col = heads.findIndex(th => th.textContent.trim() === "AUROC");
  const read = () => Array.from(table.tBodies[0].rows).map(r => r.cells[col].textContent.trim());
  const names = () => Array.from(table.tBodies[0].rows).map(r => r.cells[0].textContent.trim());
  heads[col].click();
  const down = read(), namesDown = names();
  heads[col].click();
  const up = read(), namesUp = names();
  return {down: down.filter(v => v !== "—").map(Number), up: up.filter(v => v !== "—").map(Number),
          last: up.slice(-1), names: namesDown, names_up: namesUp,
          sticky: getComputedStyle(table.tBodies[0].rows[0].cells[0]).position};
})()"""


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")
def test_browser_check_catches_a_broken_image(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><body><img src='missing.png'></body></html>")
    result = load_page(page.as_uri(), tmp_path / "profile")
    assert result["images"][0]["width"] == 0
    assert any("missing.png" in e or "ERR_FILE_NOT_FOUND" in e for e in result["errors"]), result
