"""JupyterLab in headless Chromium, for the browser tests (`tests/test_browser.py`).

A JupyterLab server on a free loopback port with its own settings (no news toast, no
windowing), Debian's Chromium driven by Playwright, and helpers to run a notebook, wait for
it, and tell a drawn canvas from a blank one. ``make test`` installs Chromium
(``apt-get install chromium``) and Playwright (the ``test`` extra).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import numpy as np

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "browser"

_SETTINGS = {  # JupyterLab user settings that would disturb automated clicks
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def lab_server(root: Path, home: Path):
    """Run JupyterLab serving ``root`` (config, runtime and settings under ``home``);
    yields its base URL. The server and its kernels are stopped on exit."""
    port = _free_port()
    settings = home / "lab-settings"
    for name, values in _SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home / "config"),
           "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(settings),
           "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    log = open(home / "lab.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
         f"--port={port}", "--ip=127.0.0.1", f"--ServerApp.root_dir={root}",
         "--IdentityProvider.token=", "--ServerApp.password=",
         "--ServerApp.disable_check_xsrf=True"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("JupyterLab did not start:\n"
                                       + (home / "lab.log").read_text()[-3000:]) from None
                time.sleep(0.5)
        yield url
    finally:
        _stop(process)
        log.close()


def _stop(process: subprocess.Popen) -> None:
    """Stop the server and every process it started. Its kernels run in sessions of their
    own (jupyter_client), out of reach of a signal to the server's group: a SIGTERM lets the
    server shut them down; whatever is still alive after that is killed."""
    import psutil

    try:
        children = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    _, alive = psutil.wait_procs(children, timeout=10)
    for child in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
    psutil.wait_procs(alive, timeout=10)


@contextlib.contextmanager
def chromium_page(user_data: Path, artifacts: Path | None = None):
    """A Playwright page in Debian's headless Chromium (fresh profile in ``user_data``);
    console messages are collected in ``page.console_messages``. With ``artifacts``, the
    console goes to ``artifacts/console.log`` and a failing test leaves ``failure.png``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(user_data), executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1000})
        page = context.pages[0] if context.pages else context.new_page()
        page.console_messages = []
        page.on("console", lambda m: page.console_messages.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: page.console_messages.append(f"pageerror: {e}"))
        try:
            yield page
        except BaseException:
            if artifacts is not None:
                with contextlib.suppress(Exception):
                    shot(page, artifacts, "failure")
            raise
        finally:
            if artifacts is not None:
                artifacts.mkdir(parents=True, exist_ok=True)
                (artifacts / "console.log").write_text("\n".join(page.console_messages) + "\n")
            context.close()


def open_notebook(page, url: str, name: str) -> None:
    """Open notebook ``name`` in a fresh workspace and wait for its kernel to be idle."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto(f"{url}/lab/workspaces/{uuid.uuid4().hex[:8]}/tree/{name}?reset")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
    accept = page.locator(".jp-Dialog button.jp-mod-accept")  # "Select Kernel", if asked
    try:
        accept.wait_for(timeout=10_000)
        accept.click()
    except PlaywrightTimeout:
        pass
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator", timeout=60_000)
    page.wait_for_function(
        "() => document.querySelector('#jp-main-statusbar')?.textContent.includes('Idle')",
        timeout=120_000)


def wait_idle(page, timeout: float) -> None:
    """Wait until the notebook's kernel reports idle."""
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-Notebook-ExecutionIndicator')]"
        ".some(e => e.getAttribute('data-status') === 'idle')",
        timeout=timeout * 1000)


_ALL_RAN_OR_ERROR = """() => {
  const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
  const ran = prompts.length > 0 && prompts.every(e => /\\[\\d+\\]/.test(e.textContent));
  const failed = [...document.querySelectorAll('[data-mime-type="application/vnd.jupyter.stderr"]')]
    .some(e => e.textContent.includes('Traceback (most recent call last)'));
  return ran || failed;
}"""


def run_all(page, timeout: float) -> None:
    """Run every cell (Run menu) and wait until each code cell has an execution count and
    the kernel is idle. A cell that raises stops the run (JupyterLab does not run the cells
    after it): that fails at once, with the traceback."""
    page.locator(".lm-MenuBar-item", has_text="Run").first.click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    page.wait_for_function(_ALL_RAN_OR_ERROR, timeout=timeout * 1000)
    wait_idle(page, timeout=timeout)
    errors = [p for p in problems(page) if p.startswith("cell error")]
    assert not errors, "a cell raised:\n" + "\n".join(errors)


def run_cell(page, index: int, timeout: float) -> None:
    """Run code cell ``index`` (0-based, among all cells) with Shift+Enter and wait until it
    has a new execution count and the kernel is idle."""
    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    prompt = cell.locator(".jp-InputPrompt")
    before = prompt.text_content()
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    page.wait_for_function(
        "([cell, before]) => { const t = cell.querySelector('.jp-InputPrompt').textContent;"
        " return /\\[\\d+\\]/.test(t) && t !== before; }",
        arg=[cell.element_handle(), before], timeout=timeout * 1000)
    wait_idle(page, timeout=timeout)


# What shows that a widget or an output did not render: in the console, or in the page.
_BAD_CONSOLE = ("Javascript Error", "Failed to load model", "Could not create a model",
                "Could not create a view", "Error displaying widget", "pageerror")
_BAD_IN_PAGE = """() => {
  const text = s => [...document.querySelectorAll(s)].map(e => e.textContent.trim());
  const failed = text('.jupyter-widgets-error-widget')  // "Click to show javascript error."
    .map(t => 'widget error: ' + t).concat(text('.jp-OutputArea-output')
    .filter(t => /^(Javascript Error|Error displaying widget)/.test(t)));
  // JupyterLab shows an error output as stderr text (a warning is stderr text too)
  const tracebacks = text('[data-mime-type="application/vnd.jupyter.stderr"]')
    .filter(t => t.includes('Traceback (most recent call last)'))
    .map(t => 'cell error: ' + t.slice(0, 2000));
  return failed.concat(tracebacks);
}"""


def problems(page) -> list[str]:
    """Widget, JavaScript and Python errors seen so far: console messages that tell of a
    widget that did not render, error widgets and "Javascript Error" outputs in the page,
    and error outputs (tracebacks) of cells."""
    found = [m for m in page.console_messages if any(b in m for b in _BAD_CONSOLE)]
    return found + page.evaluate(_BAD_IN_PAGE)


def colours(png: bytes) -> int:
    """Number of distinct colours in a PNG screenshot (a blank canvas has one or two)."""
    from PIL import Image

    image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).reshape(-1, 3)
    return len(np.unique(image, axis=0))


def shot(page_or_locator, folder: Path, name: str) -> bytes:
    """Screenshot into ``folder/name.png`` (kept for a person to look at); returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    kwargs = {"full_page": True} if hasattr(page_or_locator, "goto") else {}
    return page_or_locator.screenshot(path=str(folder / f"{name}.png"), **kwargs)


def wait_drawn(page, locator, folder: Path, name: str, at_least: int,
               timeout: float = 60) -> int:
    """Screenshot ``locator`` into ``folder/name.png`` until it shows at least ``at_least``
    distinct colours (WebGL and bokeh draw a while after their widget appears) or
    ``timeout`` seconds pass; returns the last count."""
    locator.scroll_into_view_if_needed(timeout=timeout * 1000)
    deadline = time.monotonic() + timeout
    while True:
        count = colours(shot(locator, folder, name))
        if count >= at_least or time.monotonic() > deadline:
            return count
        page.wait_for_timeout(1000)


def box_select(page, plot, start: tuple, end: tuple, where: str) -> None:
    """Drag a box select over a bokeh ``plot`` (a locator) from ``start`` to ``end``
    (fractions of its canvas, from the top left) and wait until an inspector says what
    was picked "on the ``where``"."""
    plot.scroll_into_view_if_needed()
    plot.get_by_title("Box Select").first.click()
    box = plot.locator("canvas").first.bounding_box()
    page.mouse.move(box["x"] + start[0] * box["width"], box["y"] + start[1] * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + end[0] * box["width"], box["y"] + end[1] * box["height"],
                    steps=10)
    page.mouse.up()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.gx-inspector')]"
        f".some(e => e.textContent.includes('picked on the {where}'))", timeout=30_000)
