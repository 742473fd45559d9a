"""Checks in a real browser (Debian's headless chromium driven by selenium): the static site's
index and gallery, and notebook 04's layer calculator in JupyterLab.

Not part of the default test run (``-m "not browser"`` in pyproject.toml); run them with::

    apt-get install chromium chromium-driver      # once
    pytest -m browser tests/test_browser.py

Screenshots go to ``build/browser/``.
"""

from __future__ import annotations

import io
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from course_utils.settings import PACKAGE_PARENT

pytestmark = pytest.mark.browser
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
SHOTS = PACKAGE_PARENT / "build" / "browser"


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and DRIVER):
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--window-size=1400,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(60)
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def site_from_a_build(tmp_path: Path) -> Path:
    from course_utils import instructor
    from tests.test_build import dirs, make_notebook
    from tests.test_figures import NOTEBOOK
    make_notebook(tmp_path / "nb" / "01_kinds.ipynb",
                  [NOTEBOOK[0], NOTEBOOK[1] % str(Path(__file__).parent),
                   "from course_utils.run import current\ncurrent().record(acc=0.875, headline=['acc'])"])
    assert instructor.main(["--smoke", *dirs(tmp_path)], stream=io.StringIO()) == 0
    assert instructor.main(["--smoke", "--site", *dirs(tmp_path)], stream=io.StringIO()) == 0
    return tmp_path / "build" / "smoke" / "site"


def test_site_index_and_gallery_render_with_every_image(browser, tmp_path):
    from selenium.webdriver.common.by import By
    site = Path(os.environ.get("COURSE_SITE", "")) if os.environ.get("COURSE_SITE") else site_from_a_build(tmp_path)
    for page, shot in (("index.html", "site_index.png"), ("gallery.html", "site_gallery.png")):
        browser.get((site / page).as_uri())
        time.sleep(0.5)
        images = browser.find_elements(By.TAG_NAME, "img")
        broken = [i.get_attribute("src") for i in images
                  if not browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", i)]
        assert broken == [], f"{page}: images that did not load: {broken}"
        for link in browser.find_elements(By.TAG_NAME, "a"):
            href = link.get_attribute("href")
            if href.startswith("file://"):
                assert Path(href[len("file://"):].split("#")[0]).exists(), f"{page}: broken link {href}"
        browser.get_screenshot_as_file(str(SHOTS / shot))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Every figure of the course"


def calculator_text(driver, cell) -> str:
    """The layer calculator's output as the page shows it now, read in one step inside the
    page. The widget replaces its output element whenever a slider moves, so an element looked
    up first and read afterwards may be gone by then (StaleElementReferenceException)."""
    return driver.execute_script(
        "return Array.from(arguments[0].querySelectorAll('pre.course-calculator'))"
        ".map(e => e.innerText).join('\\n')", cell)


def shows(cell, size: str):
    """A wait condition: the calculator's text once it says ``output: <size>``."""
    def check(driver) -> str | bool:
        text = calculator_text(driver, cell)
        return text if f"output: {size}" in text else False
    return check


def test_waiting_for_the_calculator_survives_its_output_being_replaced(browser, tmp_path):
    """A page that replaces its calculator output element every few milliseconds, as the widget
    does when a slider moves (in a burst here). Looking the element up and then reading it, as
    the check did, failed with StaleElementReferenceException; reading it in one step does not."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    page = tmp_path / "churn.html"
    page.write_text("""<!doctype html><div id="cell"><pre class="course-calculator">output: 64x55x55</pre></div>
<script>
let n = 0;
setInterval(() => {
  for (let i = 0; i < 20; i++) {
    const pre = document.createElement("pre");
    pre.className = "course-calculator";
    pre.textContent = ++n > 2000 ? "output: 64x44x44" : "output: 64x55x55";
    document.querySelector("#cell pre").replaceWith(pre);
  }
}, 1);
</script>""")
    browser.get(page.as_uri())
    cell = browser.find_element(By.ID, "cell")
    assert "output: 64x44x44" in WebDriverWait(browser, 60).until(shows(cell, "64x44x44"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def jupyterlab(tmp_path):
    token, port = secrets.token_hex(16), _free_port()
    env = dict(os.environ, COURSE_SMOKE="1", PWD=str(PACKAGE_PARENT))
    # Fresh settings and workspaces: every cell attached to the page (JupyterLab's default skips
    # drawing the cells out of view, whose text the test could then not read), no earlier layout.
    tracker = tmp_path / "settings" / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text('{"windowingMode": "none"}\n')
    log = tempfile.TemporaryFile(mode="w+")   # a pipe could fill up and stall the server
    proc = subprocess.Popen([sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
                             "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
                             f"--ServerApp.root_dir={PACKAGE_PARENT}", "--LabApp.news_url=",
                             "--ServerApp.disable_check_xsrf=True", "--allow-root",   # CI runs as root
                             f"--LabApp.user_settings_dir={tmp_path / 'settings'}",
                             f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}"],
                            cwd=PACKAGE_PARENT, env=env, stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if proc.poll() is not None:
                log.seek(0)
                pytest.fail(f"JupyterLab exited: {log.read()[-2000:]}")
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("JupyterLab did not open its port within a minute")
    yield url, token
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_layer_calculator_in_jupyterlab(browser, jupyterlab):
    """Open notebook 04, run the calculator cell, move the stride slider one step to the
    right, and read the output size back from the page."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    url, token = jupyterlab
    browser.get(f"{url}/lab/tree/notebooks/04_alexnet_arithmetic.ipynb?token={token}")
    wait = WebDriverWait(browser, 120,
                         ignored_exceptions=(NoSuchElementException, StaleElementReferenceException))
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, ".jp-Notebook .jp-Cell")))
    wait.until(lambda d: "Idle" in d.find_element(By.CSS_SELECTOR, ".jp-Toolbar").text
               or d.find_elements(By.CSS_SELECTOR, ".jp-Notebook-ExecutionIndicator[data-status='idle']"))
    cell = wait.until(lambda d: next((c for c in d.find_elements(By.CSS_SELECTOR, ".jp-CodeCell")
                                      if "layer_calculator(" in c.text), None))   # drawn by now
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", cell)
    cell.find_element(By.CSS_SELECTOR, ".cm-content").click()
    cell.find_element(By.CSS_SELECTOR, ".cm-content").send_keys(Keys.SHIFT, Keys.ENTER)
    wait.until(shows(cell, "64x55x55"))
    slider = next(s for s in cell.find_elements(By.CSS_SELECTOR, ".widget-slider")
                  if s.find_element(By.CSS_SELECTOR, ".widget-label").text == "stride")
    handle = slider.find_element(By.CSS_SELECTOR, ".noUi-handle")
    handle.click()
    handle.send_keys(Keys.ARROW_RIGHT)
    text = wait.until(shows(cell, "64x44x44"))
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", cell)
    browser.get_screenshot_as_file(str(SHOTS / "layer_calculator.png"))
    (SHOTS / "layer_calculator.txt").write_text(text + "\n")
    assert "Conv2d(3, 64, kernel 11, stride 5, padding 2)" in text and "the formulas agree" in text
