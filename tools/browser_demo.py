"""Drive app.py in Debian's Chromium (headless, through Playwright's Python package): start the app on a free
port, send messages as a person does, watch the masks and the final answer, take screenshots.

Used by tests/test_app.py, and on its own to make the README's screenshot with the bundled model:

    python tools/browser_demo.py --screenshot docs/demo.png
"""
import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def chromium_path():
    """Debian's Chromium (apt-get install chromium), or $CHROMIUM; None if absent."""
    for candidate in (os.environ.get("CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium",
                      shutil.which("chromium-browser")):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AppServer:
    """python app.py --model MODEL on a free port, in a subprocess; a context manager."""

    def __init__(self, model=None, extra_args=(), log_path=None, startup_timeout=180):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
                   PYTHONUNBUFFERED="1")
        env.setdefault("OMP_NUM_THREADS", "1")
        command = [sys.executable, os.path.join(ROOT, "app.py"), "--port", str(self.port), *extra_args]
        if model:
            command += ["--model", model]
        self.log_path = log_path or tempfile.mkstemp(prefix="llada-app-", suffix=".log")[1]
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + startup_timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"app.py exited with {self.process.returncode}:\n{self.read_log()}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"app.py did not answer at {self.url} in {startup_timeout} s:\n{self.read_log()}")
            time.sleep(0.5)

    def read_log(self):
        self.log.flush()
        with open(self.log_path) as log:
            return log.read()

    def close(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def launch_browser(playwright, executable_path=None):
    return playwright.chromium.launch(executable_path=executable_path or chromium_path(), args=CHROMIUM_ARGS,
                                      headless=True)


def status_text(page):
    return page.locator("#denoising .llada-status").inner_text()


def send(page, message, constraints=None):
    if constraints is not None:
        page.locator("#constraints textarea, #constraints input").first.fill(constraints)
    box = page.locator("#message textarea, #message input").first
    box.fill(message)
    box.press("Enter")


def wait_for_step(page, fraction, timeout_s=60):
    """Wait until the status says 'Step k/n' with k >= fraction * n (or Done); returns the status."""
    page.wait_for_function(
        """(fraction) => {
            const s = document.querySelector('#denoising .llada-status');
            if (!s) return false;
            if (s.innerText.startsWith('Done')) return true;
            const m = s.innerText.match(/Step (\\d+)\\/(\\d+)/);
            return m && Number(m[1]) >= fraction * Number(m[2]);
        }""", arg=fraction, timeout=timeout_s * 1000)
    return status_text(page)


def wait_for_done(page, timeout_s=120):
    page.wait_for_selector("#denoising .llada-status:text-matches('^Done')", timeout=timeout_s * 1000)


def last_bot_message(page):
    return page.locator("#chatbot [data-testid='bot']").last.inner_text().strip()


def main():
    parser = argparse.ArgumentParser(description="Screenshot the demo mid-denoising in headless Chromium.")
    parser.add_argument("--model", default=None, help="default: the bundled model")
    parser.add_argument("--screenshot", default=os.path.join(ROOT, "docs", "demo.png"))
    parser.add_argument("--messages", nargs="+", default=["Tell me about the sea.", "And about the moon?"],
                        help="sent in turn; the screenshot is taken halfway through the last answer")
    parser.add_argument("--fraction", type=float, default=0.5, help="how far into the last answer to shoot")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    os.makedirs(os.path.dirname(os.path.abspath(args.screenshot)), exist_ok=True)
    with AppServer(args.model) as server, sync_playwright() as playwright:
        browser = launch_browser(playwright)
        page = browser.new_page(viewport={"width": 1400, "height": 950})
        page.goto(server.url)
        for i, message in enumerate(args.messages):
            send(page, message)
            page.wait_for_selector("#denoising .llada-tokens .tok.mask", timeout=120_000)  # this answer started
            if i < len(args.messages) - 1:
                wait_for_done(page)
        print(wait_for_step(page, args.fraction))
        page.screenshot(path=args.screenshot, full_page=True)
        wait_for_done(page)
        print("final answer:", last_bot_message(page))
        browser.close()
    print("saved", args.screenshot)


if __name__ == "__main__":
    main()
