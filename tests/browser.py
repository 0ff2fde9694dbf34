"""Open a local HTML file in headless Chromium over the DevTools protocol (tests only).

`inspect_page` loads the page, records every request it makes and every console error, evaluates
a JavaScript expression in it and takes a screenshot. Chromium is Debian's `chromium` package
(`make test` installs it); its absence is an error, not a skip.
"""

from __future__ import annotations

import base64
import json
import pathlib
import shutil
import subprocess
import tempfile
import time
import urllib.request

from websockets.sync.client import connect


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        raise RuntimeError("chromium not found: install it with `apt-get install -y chromium` (make test does)")
    return path


def inspect_page(html: pathlib.Path, *, expression: str, screenshot: pathlib.Path, width: int = 1280,
                 height: int = 900, timeout: float = 60.0) -> dict:
    """{"requests": [url, ...], "errors": [text, ...], "value": the expression's JSON value}; writes the PNG."""
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:  # Chromium's helpers may still write there as it exits
        proc = subprocess.Popen([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                                 "--remote-debugging-port=0", f"--user-data-dir={profile}", f"--window-size={width},{height}",
                                 "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            port_file = pathlib.Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + timeout
            while not (port_file.is_file() and port_file.read_text().strip()):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("chromium did not start its DevTools endpoint")
                time.sleep(0.1)
            port = int(port_file.read_text().split()[0])
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
                page = next(t for t in json.load(r) if t["type"] == "page")
            with connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=10) as ws:
                return _session(ws, html.resolve().as_uri(), expression, screenshot, width, height, deadline)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def _session(ws, url: str, expression: str, screenshot: pathlib.Path, width: int, height: int, deadline: float) -> dict:
    ids = iter(range(1, 1_000_000))
    requests, errors, replies = [], [], {}

    def handle(msg: dict) -> None:
        method, params = msg.get("method"), msg.get("params", {})
        if method == "Network.requestWillBeSent":
            requests.append(params["request"]["url"])
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            errors.append(params["exceptionDetails"].get("text", "exception"))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            errors.append(params["entry"].get("text", ""))
        elif "id" in msg:
            replies[msg["id"]] = msg

    def call(method: str, **params) -> dict:
        i = next(ids)
        ws.send(json.dumps({"id": i, "method": method, "params": params}))
        while i not in replies:
            handle(json.loads(ws.recv(timeout=max(deadline - time.monotonic(), 0.1))))
        reply = replies.pop(i)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    for domain in ("Page", "Network", "Runtime", "Log"):
        call(f"{domain}.enable")
    call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
    call("Page.navigate", url=url)
    state = ""
    while state != "complete":
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not finish loading")
        state = call("Runtime.evaluate", expression="document.readyState", returnByValue=True)["result"]["value"]
        time.sleep(0.1)
    time.sleep(0.3)  # let late console messages and requests arrive
    value = call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")
    shot = call("Page.captureScreenshot", format="png")
    screenshot.write_bytes(base64.b64decode(shot["data"]))
    return {"requests": requests, "errors": errors, "value": value}
