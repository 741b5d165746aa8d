"""The matrix page in a real browser: headless Chromium renders it, filters it, opens a cell.

Two ways in: ``--dump-dom`` (the DOM after the page's script ran, with filters given in the
URL hash) and the DevTools protocol over ``--remote-debugging-pipe`` (real mouse clicks on a
filter checkbox and on a cell; no extra Python package).  Needs Debian's ``chromium`` on PATH.  Without it the tests skip, unless
CONFORMANCE_INSTALL_CHROMIUM=1, in which case the set-up runs
``apt-get update && apt-get install -y chromium`` once (as root, like CI).
No TensorFlow: the page is rendered from fake records.  The screenshots stay in
the test's tmp_path and their paths are printed (``pytest -s`` shows them).
"""
from __future__ import annotations

import base64
import json
import os
import re
import select
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conformance.report.html import combine, write_html
from tests.report_fakes import doc, rec

INSTALL_ENV = "CONFORMANCE_INSTALL_CHROMIUM"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
         "--window-size=1400,1000"]


def _install() -> None:
    if shutil.which("apt-get") is None:
        pytest.fail(f"{INSTALL_ENV}=1 but apt-get is not on PATH (a Debian/Ubuntu machine is needed)", pytrace=False)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        if p.returncode != 0:
            tail = (p.stderr or p.stdout).strip().splitlines()[-1:] or ["no output"]
            pytest.fail(f"{INSTALL_ENV}=1 but `{' '.join(cmd)}` failed ({p.returncode}): {tail[0]}", pytrace=False)


@pytest.fixture(scope="session")
def chromium() -> str:
    exe = shutil.which("chromium")
    if exe is None:
        if os.environ.get(INSTALL_ENV) != "1":
            pytest.skip(f"chromium is not on PATH; install Debian's chromium package or set {INSTALL_ENV}=1 "
                        "to let this test run apt-get install -y chromium")
        _install()
        exe = shutil.which("chromium")
        if exe is None:
            pytest.fail("apt-get installed chromium but it is not on PATH", pytrace=False)
    return exe


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> tuple[Path, dict]:
    legacy = doc([rec("mlp", "tf2onnx", 13, "PASS"), rec("mlp", "keras2onnx", 13, "PASS"),
                  rec("lstm", "tf2onnx", 13, "MISMATCH", family="recurrent"),
                  rec("lstm", "keras2onnx", 13, "CONVERT_ERROR", family="recurrent", reason="<b>not bold</b>"),
                  rec("gru", "tf2onnx", 13, "XFAIL", family="recurrent"),
                  rec("gru", "keras2onnx", 13, "PASS", family="recurrent")],
                 stack="legacy", packages={"tensorflow": "2.13.1", "tf2onnx": "1.16.1"})
    modern = doc([rec("mlp", "tf2onnx", 13, "PASS"), rec("mlp", "keras2onnx", 13, "UNAVAILABLE"),
                  rec("lstm", "tf2onnx", 13, "PASS", family="recurrent"),
                  rec("lstm", "keras2onnx", 13, "UNAVAILABLE", family="recurrent"),
                  rec("gru", "tf2onnx", 13, "MISMATCH", family="recurrent"),
                  rec("gru", "keras2onnx", 13, "UNAVAILABLE", family="recurrent")], stack="modern")
    d = combine([("legacy.json", legacy), ("modern.json", modern)])
    out = write_html(d, tmp_path_factory.mktemp("page") / "matrix.html")
    return out, d


def _browse(chromium: str, url: str, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    p = subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", *extra, url],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, f"chromium exited {p.returncode}: {p.stderr[-2000:]}"
    return p


class _Dom(HTMLParser):
    def __init__(self):
        super().__init__()
        self.root, self.cells, self.rows, self.panel = {}, [], [], None

        self.tbody_shown = self.row_shown = True

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = (a.get("class") or "").split()
        if tag == "html":
            self.root = a
        elif tag == "tbody":
            self.tbody_shown = "hide" not in cls
        elif tag == "td" and "data-id" in a:
            shown = self.tbody_shown and self.row_shown and "hide" not in cls and "off" not in cls
            self.cells.append({"id": a["data-id"], "status": a["data-status"], "stack": a["data-stack"],
                               "converter": a["data-converter"], "shown": shown})
        elif tag == "tr" and "case-row" in cls:
            self.row_shown = "hide" not in cls
            self.rows.append({"case": a["data-case"], "shown": self.tbody_shown and self.row_shown})
        elif tag == "aside" and a.get("id") == "panel":
            self.panel = a


def dom(chromium: str, url: str, tmp_path: Path) -> tuple[_Dom, str]:
    text = _browse(chromium, url, tmp_path, "--dump-dom").stdout
    d = _Dom()
    d.feed(text)
    assert d.root.get("data-ready") == "1", "the page's script did not finish"
    return d, text


def test_matrix_renders_in_chromium(chromium, page, tmp_path):
    path, d = page
    got, _ = dom(chromium, path.as_uri(), tmp_path)
    assert sorted(c["id"] for c in got.cells) == sorted(f"{r['id']}@{r['stack']}" for r in d["records"])
    assert all(c["shown"] for c in got.cells)
    assert got.root["data-visible-cells"] == str(len(d["records"]))
    shot = tmp_path / "matrix.png"
    _browse(chromium, path.as_uri(), tmp_path, f"--screenshot={shot}")
    assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    print(f"\nscreenshot: {shot}")


@pytest.mark.parametrize("hash_,expect", [
    ("status=MISMATCH", lambda c: c["status"] == "MISMATCH"),
    ("converter=tf2onnx&stack=modern", lambda c: c["converter"] == "tf2onnx" and c["stack"] == "modern"),
    ("family=recurrent&status=PASS,XFAIL", lambda c: c["status"] in ("PASS", "XFAIL") and c["id"][:3] != "mlp"),
])
def test_filters_apply_in_chromium(chromium, page, tmp_path, hash_, expect):
    path, d = page
    got, _ = dom(chromium, path.as_uri() + "#" + hash_, tmp_path)
    want = sorted(c["id"] for c in got.cells if expect(c))
    shown = sorted(c["id"] for c in got.cells if c["shown"])
    assert want and shown == want, (hash_, shown)
    assert got.root["data-visible-cells"] == str(len(want))
    # a row with no matching cell is hidden, and every row with one is shown
    wanted_cases = {c["id"].split("-")[0] for c in got.cells if expect(c)}
    assert {r["case"] for r in got.rows if r["shown"]} == wanted_cases
    if hash_.startswith("status=MISMATCH"):
        shot = tmp_path / "filtered.png"
        _browse(chromium, path.as_uri() + "#" + hash_, tmp_path, f"--screenshot={shot}")
        assert shot.is_file() and shot.stat().st_size > 10_000
        print(f"\nscreenshot: {shot}")


def test_cell_detail_opens_in_chromium(chromium, page, tmp_path):
    path, _ = page
    got, text = dom(chromium, path.as_uri() + "#open=lstm-keras2onnx-opset13@legacy", tmp_path)
    assert got.root.get("data-open-cell") == "lstm-keras2onnx-opset13@legacy"
    assert got.panel is not None and "hidden" not in got.panel
    panel = text[text.index('<aside id="panel"'):]
    panel = panel[:panel.index("</aside>")]
    assert "lstm · keras2onnx · opset 13 · legacy" in panel and "&lt;b&gt;not bold&lt;/b&gt;" in panel
    assert re.search(r'pytest "conformance/test_matrix.py::test_cell\[lstm-keras2onnx-opset13\]"', panel)
    shot = tmp_path / "detail.png"
    _browse(chromium, path.as_uri() + "#open=lstm-keras2onnx-opset13@legacy", tmp_path, f"--screenshot={shot}")
    print(f"\nscreenshot: {shot}")


class DevTools:
    """A minimal DevTools-protocol client over --remote-debugging-pipe (fd 3 in, fd 4 out, NUL-separated JSON)."""

    def __init__(self, chromium: str, profile: Path):
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def fds():  # runs in the child before exec; fds 3 and 4 are kept (pass_fds)
            os.dup2(to_chrome_r, 3)
            os.dup2(from_chrome_w, 4)

        self.proc = subprocess.Popen([chromium, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe",
                                      "about:blank"], pass_fds=(3, 4), preexec_fn=fds,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buf = b""
        self._id = 0
        self.session = None

    def send(self, method: str, params: dict | None = None, timeout: float = 30.0) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if self.session and not method.startswith("Target."):
            msg["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self._buf:
                raw, self._buf = self._buf.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == self._id:
                    assert "error" not in reply, f"{method}: {reply['error']}"
                    return reply.get("result", {})
            left = deadline - time.monotonic()
            assert left > 0, f"no DevTools reply to {method} within {timeout} s"
            ready, _, _ = select.select([self._from_chrome], [], [], left)
            if ready:
                chunk = os.read(self._from_chrome, 1 << 16)
                assert chunk, f"chromium closed the DevTools pipe (exit {self.proc.poll()})"
                self._buf += chunk

    def open(self, url: str) -> None:
        target = self.send("Target.createTarget", {"url": url})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.wait_for(f"location.href.startsWith({json.dumps(url)}) && document.documentElement"
                      " && document.documentElement.dataset.ready === '1'")

    def js(self, expression: str):
        res = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        assert "exceptionDetails" not in res, res["exceptionDetails"]
        return res["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.js(f"Boolean({expression})"):
            assert time.monotonic() < deadline, f"timed out waiting for {expression}"
            time.sleep(0.05)

    def click(self, selector: str) -> None:
        """A real mouse click (press + release) in the middle of the element."""
        box = self.js(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); e.scrollIntoView();"
                      f" const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()")
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": box[0], "y": box[1], "button": "left",
                                                   "clickCount": 1})

    def screenshot(self, path: Path) -> Path:
        path.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", {"format": "png"})["data"]))
        return path

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=10)
        except AssertionError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_chrome)
        os.close(self._from_chrome)


def test_clicks_filter_and_open_a_cell_in_chromium(chromium, page, tmp_path):
    path, d = page
    tools = DevTools(chromium, tmp_path / "profile-devtools")
    try:
        tools.open(path.as_uri())
        visible = lambda: int(tools.js("document.documentElement.dataset.visibleCells"))  # noqa: E731
        assert visible() == len(d["records"])
        # untick PASS in the status filter: exactly the non-PASS cells stay, and the hash records it
        tools.click('#filters input[name="status"][value="PASS"]')
        tools.wait_for("location.hash.includes('status=')")
        assert visible() == sum(r["status"] != "PASS" for r in d["records"])
        assert "PASS" not in tools.js("location.hash").split("status=")[1].split("&")[0].split(",")
        assert tools.js("[...document.querySelectorAll('td.c[data-status=PASS]')]"
                        ".every(td => td.classList.contains('off'))")
        # untick the legacy stack too: its columns disappear
        tools.click('#filters input[name="stack"][value="legacy"]')
        tools.wait_for("location.hash.includes('stack=')")
        assert visible() == sum(r["status"] != "PASS" and r["stack"] != "legacy" for r in d["records"])
        assert tools.js("getComputedStyle(document.querySelector('td.c[data-stack=legacy]')).display") == "none"
        # click a cell: its detail opens in the side panel
        tools.click('td.c[data-id="gru-tf2onnx-opset13@modern"]')
        tools.wait_for("!document.getElementById('panel').hidden")
        assert tools.js("document.documentElement.dataset.openCell") == "gru-tf2onnx-opset13@modern"
        assert "gru · tf2onnx · opset 13 · modern" in tools.js("document.getElementById('panel').innerText")
        shot = tools.screenshot(tmp_path / "clicked.png")
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        print(f"\nscreenshot: {shot}")
        # close it, then "show all" brings every cell back
        tools.click("#panel-close")
        tools.wait_for("document.getElementById('panel').hidden")
        tools.click("#reset")
        tools.wait_for(f"document.documentElement.dataset.visibleCells === '{len(d['records'])}'")
    finally:
        tools.close()
