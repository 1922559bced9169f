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
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


@contextlib.contextmanager
def chromium_page(user_data: Path):
    """A Playwright page in Debian's headless Chromium; console messages are collected
    in ``page.console_messages``."""
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
        finally:
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


def run_all(page, timeout: float) -> None:
    """Run every cell (Run menu) and wait until each code cell has an execution count."""
    page.locator(".lm-MenuBar-item", has_text="Run").first.click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    page.wait_for_function(
        "() => { const p = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];"
        " return p.length > 0 && p.every(e => /\\[\\d+\\]/.test(e.textContent)); }",
        timeout=timeout * 1000)
    wait_idle(page, timeout=timeout)


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
