"""The web pages in a real browser: Debian's chromium, driven by Playwright, against a real
server process. A screenshot of each page goes to ``test-artifacts/screenshots/``.

Without a browser that starts, these tests are skipped, except under ``CI=true``, where
they fail (``./scripts/test`` installs chromium when it is missing).
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from PIL import Image

from tests.support.server import TOKEN, ServerProcess

pytestmark = pytest.mark.e2e

CHROMIUM = os.environ.get("REPLICAST_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
TIMEOUT_MS = 20_000
SCHNELL = "/models/black-forest-labs/flux-schnell"


def _missing(message: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _missing(f"Playwright is not installed ({exc}); pip install -e '.[test]'")
    try:
        playwright = sync_playwright().start()
    except Exception as exc:
        _missing(f"Playwright's driver does not start ({exc})")
    try:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=CHROMIUM_ARGS, timeout=30_000)
    except Exception as exc:
        playwright.stop()
        _missing(f"Chromium at {CHROMIUM} does not start ({exc}); "
                 "apt-get install chromium (./scripts/test does)")
    yield chromium
    chromium.close()
    playwright.stop()


def _keys(server: ServerProcess, *args: str) -> str:
    env = {**os.environ, "REPLICAST_DATA_DIR": str(server.data_dir)}
    return subprocess.run([sys.executable, "-m", "replicast", "keys", *args], env=env,
                          check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def mallory(server) -> str:
    """A token of another account."""
    return _keys(server, "create", "--account", "mallory").strip().splitlines()[-1]


class Browsing:
    """A browser context on the server, with the console errors its pages logged."""

    def __init__(self, browser: Any, server: ServerProcess, **options: Any) -> None:
        self.context = browser.new_context(base_url=server.base_url, **options)
        self.context.set_default_timeout(TIMEOUT_MS)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error"
                     else None)

    def sign_in(self, token: str = TOKEN) -> None:
        self.page.goto("/login")
        self.page.get_by_label("API token").fill(token)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_url(re.compile(r"^(?!.*/login)"))

    def shot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def visit(browser, server) -> Iterator[Any]:
    opened: list[Browsing] = []

    def open_(**options: Any) -> Browsing:
        opened.append(Browsing(browser, server, **options))
        return opened[-1]

    yield open_
    for browsing in opened:
        browsing.close()


def _expect() -> Any:
    from playwright.sync_api import expect
    return expect


def _run_sleep(http: httpx.Client, seconds: float) -> dict[str, Any]:
    response = http.post("/v1/models/replicast/sleep/predictions",
                         json={"input": {"seconds": seconds}})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _path(url: str) -> str:
    return urlsplit(url).path


def test_sign_in_with_the_token(visit, server):
    b = visit()
    b.page.goto("/")
    assert _path(b.page.url) == "/login"
    assert parse_qs(urlsplit(b.page.url).query) == {"next": ["/"]}
    b.page.get_by_label("API token").fill("r8_NotTheRightTokenAtAll000000000000000")
    with b.page.expect_response(lambda r: _path(r.url) == "/login"
                                and r.request.method == "POST") as answer:
        b.page.get_by_role("button", name="Sign in").click()
    assert answer.value.status == 401
    _expect()(b.page.get_by_role("alert")).to_contain_text("That token is not valid")
    assert b.page.get_by_label("API token").get_attribute("aria-invalid") == "true"
    b.shot("login-wrong-token")
    b.errors.clear()  # the 401 itself is logged

    b.page.get_by_label("API token").fill(TOKEN)
    b.page.get_by_role("button", name="Sign in").click()
    b.page.wait_for_url(f"{server.base_url}/")
    _expect()(b.page.get_by_role("link", name="black-forest-labs/flux-schnell",
                                    exact=True)).to_be_visible()
    _expect()(b.page.get_by_text("Signed in as replicast")).to_be_visible()
    (cookie,) = b.context.cookies()
    assert cookie["name"] == "replicast_session" and cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    assert TOKEN not in cookie["value"]
    b.shot("home")
    assert b.errors == []


def test_a_signed_out_visit_goes_to_sign_in_and_back(visit, server, http):
    own = _run_sleep(http, 0)
    b = visit()
    b.page.goto(f"/p/{own['id']}")
    assert _path(b.page.url) == "/login"
    assert parse_qs(urlsplit(b.page.url).query) == {"next": [f"/p/{own['id']}"]}
    b.shot("login")
    b.page.get_by_label("API token").fill(TOKEN)
    b.page.get_by_role("button", name="Sign in").click()
    b.page.wait_for_url(f"{server.base_url}/p/{own['id']}")
    _expect()(b.page.get_by_role("heading", level=1)).to_contain_text(own["id"])
    # Signing out ends it: the page asks to sign in again.
    b.page.get_by_role("button", name="Sign out").click()
    b.page.goto(f"/p/{own['id']}")
    assert _path(b.page.url) == "/login"


def test_the_flux_schnell_form_runs_and_shows_its_images(visit, server, http):
    b = visit()
    b.sign_in()
    b.page.goto(SCHNELL)
    page = b.page
    expect = _expect()
    prompt = page.get_by_label("Prompt")
    assert prompt.evaluate("e => e.tagName") == "TEXTAREA" and prompt.get_attribute("required") \
        is not None
    expect(page.get_by_text("Prompt for generated image")).to_be_visible()
    expect(page.get_by_label("Aspect Ratio")).to_have_value("1:1")
    expect(page.get_by_label("Go Fast")).to_be_checked()
    expect(page.get_by_label("Disable Safety Checker")).not_to_be_checked()
    outputs = page.get_by_label("Num Outputs", exact=True)
    expect(outputs).to_have_value("1")
    slider = page.get_by_label("Num Outputs, slider")
    expect(slider).to_be_visible()  # the script shows it beside the number field
    slider.focus()
    page.keyboard.press("ArrowRight")  # reachable and usable from the keyboard
    expect(outputs).to_have_value("2")
    b.shot("model-form")
    unlabelled = page.evaluate("""() => [...document.querySelectorAll(
        "input:not([type=hidden]), select, textarea, button")]
        .filter(e => !(e.labels && e.labels.length) && !e.getAttribute("aria-label")
                     && !(e.tagName === "BUTTON" && e.textContent.trim()))
        .map(e => e.outerHTML)""")
    assert unlabelled == []

    prompt.fill("a paper boat on calm water")
    page.get_by_label("Megapixels").select_option("0.25")
    page.get_by_label("Output Format").select_option("png")
    page.get_by_label("Go Fast").uncheck()
    page.get_by_role("button", name="Run").click()
    page.wait_for_url(re.compile(r"/p/[a-z0-9]{26}$"))
    page.evaluate("window.stillTheSamePage = true")
    expect(page.locator("#status")).to_have_text("succeeded")
    images = page.locator("#output img")
    expect(images).to_have_count(2)
    page.wait_for_function("[...document.querySelectorAll('#output img')]"
                           ".every(i => i.complete && i.naturalWidth > 0)")
    assert page.evaluate("window.stillTheSamePage") is True  # no reload
    assert images.first.get_attribute("src").startswith("/outputs/")
    assert images.first.get_attribute("alt").startswith("Output image 1")
    download = page.get_by_role("link", name="Download out-0.png")
    assert download.get_attribute("download") == "out-0.png"
    expect(page.locator("#predict-time")).to_have_text(re.compile(r"^\d+\.\d\d s$"))
    expect(page.locator("#logs")).to_contain_text("Using seed")
    b.shot("prediction-succeeded")

    prediction_id = _path(page.url).rsplit("/", 1)[1]
    stored = http.get(f"/v1/predictions/{prediction_id}").json()
    assert stored["source"] == "web" and stored["status"] == "succeeded"
    assert stored["input"] == {"prompt": "a paper boat on calm water", "aspect_ratio": "1:1",
                               "num_outputs": 2, "num_inference_steps": 4,
                               "output_format": "png", "output_quality": 80,
                               "disable_safety_checker": False, "go_fast": False,
                               "megapixels": "0.25"}
    # The home page lists it, newest first, with a thumbnail of its first image.
    page.goto("/")
    row = page.locator(".prediction-row").first
    assert row.get_attribute("href") == f"/p/{prediction_id}"
    expect(row.locator("img")).to_have_attribute("alt", f"First output image of {prediction_id}")
    page.wait_for_function("document.querySelector('.prediction-row img').naturalWidth > 0")
    assert b.errors == []  # no script errors, no Content-Security-Policy violations


def test_the_page_follows_a_running_prediction_without_reloading(visit):
    b = visit()
    b.sign_in()
    page = b.page
    page.goto("/models/replicast/sleep")
    page.get_by_label("Seconds", exact=True).fill("2")
    with page.expect_response(lambda r: re.search(r"/p/[a-z0-9]{26}$", r.url)
                              is not None) as first:
        page.get_by_role("button", name="Run").click()
    # The page was rendered while the prediction ran: what follows came live.
    assert re.search(r'data-status="(starting|processing)"', first.value.text())
    page.evaluate("window.stillTheSamePage = true")
    expect = _expect()
    expect(page.locator("#status")).to_have_text("succeeded", timeout=TIMEOUT_MS)
    expect(page.locator("#logs")).to_contain_text("2/2")
    expect(page.locator("#completed-at")).to_have_text(re.compile(r"UTC$"))
    expect(page.locator("#cancel")).to_be_hidden()
    assert page.evaluate("window.stillTheSamePage") is True
    assert b.errors == []


def test_a_waiting_prediction_shows_its_place_in_the_queue_as_it_moves(browser, tmp_path):
    queued = ServerProcess(tmp_path / "data", args=["--no-worker"]).start()  # all wait
    b = Browsing(browser, queued)
    try:
        with queued.client() as http:
            made = [_run_sleep(http, 1) for _ in range(3)]
            b.sign_in()
            page = b.page
            response = page.goto(made[2]["urls"]["web"])
            assert "3rd in the queue" in response.text()  # there before any script runs
            page.evaluate("window.stillTheSamePage = true")
            expect = _expect()
            expect(page.locator("#queue")).to_have_text("3rd in the queue")
            b.shot("prediction-queued")
            http.post(f"/v1/predictions/{made[0]['id']}/cancel")
            expect(page.locator("#queue")).to_have_text("2nd in the queue")
            http.post(f"/v1/predictions/{made[1]['id']}/cancel")
            expect(page.locator("#queue")).to_have_text("Next in the queue")
            page.get_by_role("button", name="Cancel prediction").click()
            expect(page.locator("#status")).to_have_text("canceled")
            expect(page.locator("#queue-place")).to_be_hidden()
            assert page.evaluate("window.stillTheSamePage") is True
        assert b.errors == []
    finally:
        b.close()
        queued.stop()


def test_cancel_a_running_prediction_with_the_button(visit, http):
    running = _run_sleep(http, 60)
    b = visit()
    b.sign_in()
    page = b.page
    page.goto(running["urls"]["web"])
    expect = _expect()
    expect(page.locator("#status")).to_have_text("processing")
    expect(page.locator("#logs")).to_contain_text("0/60")
    b.shot("prediction-running")
    page.get_by_role("button", name="Cancel prediction").click()
    expect(page.locator("#status")).to_have_text("canceled")
    expect(page.get_by_role("button", name="Cancel prediction")).to_be_hidden()
    assert http.get(f"/v1/predictions/{running['id']}").json()["status"] == "canceled"
    b.shot("prediction-canceled")
    assert b.errors == []


def test_a_failure_shows_its_error(visit, http):
    b = visit()
    b.sign_in()
    b.page.goto("/models/replicast/fail")
    b.page.get_by_label("Message").fill("The boat sank.")
    b.page.get_by_role("button", name="Run").click()
    b.page.wait_for_url(re.compile(r"/p/[a-z0-9]{26}$"))
    _expect()(b.page.locator("#status")).to_have_text("failed")
    _expect()(b.page.get_by_role("alert")).to_have_text("The boat sank.")
    b.shot("prediction-failed")


def test_another_accounts_prediction_is_a_404_page(visit, http, mallory):
    own = http.post("/v1/models/replicast/echo/predictions",
                    json={"input": {"prompt": "private words"}}).json()
    b = visit()
    b.sign_in(mallory)
    response = b.page.goto(f"/p/{own['id']}")
    assert response is not None and response.status == 404
    _expect()(b.page.get_by_role("heading", name="Not found")).to_be_visible()
    assert "private words" not in b.page.content()
    assert b.context.request.get(f"/p/{own['id']}/json").status == 404
    b.shot("not-found")
    b.page.goto("/")
    assert own["id"] not in b.page.content()


def test_posts_without_the_csrf_token_or_from_another_site_are_refused(visit, server, http):
    running = _run_sleep(http, 60)
    b = visit()
    b.sign_in()
    page = b.page
    page.goto(f"/p/{running['id']}")
    status = page.evaluate("""id => fetch(`/p/${id}/cancel`, {method: "POST",
        headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: ""})
        .then(r => r.status)""", running["id"])
    assert status == 403
    assert http.get(f"/v1/predictions/{running['id']}").json()["status"] == "processing"
    assert page.evaluate("""() => fetch("/logout", {method: "POST"}).then(r => r.status)""") \
        == 403
    before = len(http.get("/v1/predictions").json()["results"])
    created = page.evaluate("""() => {
        const form = new FormData();
        form.append("seconds", "1");
        return fetch("/models/replicast/sleep", {method: "POST", body: form})
            .then(r => r.status);
    }""")
    assert created == 403
    assert len(http.get("/v1/predictions").json()["results"]) == before

    # The session cookie and the right token, from another site: refused too.
    csrf = page.locator("#cancel input[name=csrf_token]").get_attribute("value")
    cookies = {c["name"]: c["value"] for c in b.context.cookies()}
    with httpx.Client(base_url=server.base_url, cookies=cookies) as browser_like:
        form = {"csrf_token": csrf}
        evil = browser_like.post(f"/p/{running['id']}/cancel", data=form,
                                 headers={"Origin": "http://evil.example"})
        assert evil.status_code == 403 and "another site" in evil.text
        assert browser_like.post("/login", data={"token": TOKEN},
                                 headers={"Origin": "http://evil.example"}).status_code == 403
        assert http.get(f"/v1/predictions/{running['id']}").json()["status"] == "processing"
        same = browser_like.post(f"/p/{running['id']}/cancel", data=form,
                                 headers={"Origin": server.base_url})
        assert same.status_code == 303
    assert http.get(f"/v1/predictions/{running['id']}").json()["status"] == "canceled"


def test_input_errors_are_shown_beside_their_fields(visit):
    b = visit()
    b.sign_in()
    page = b.page
    page.goto(SCHNELL)
    page.locator("form.model-form").evaluate("form => { form.noValidate = true; }")
    page.get_by_label("Num Outputs", exact=True).fill("9")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Run").click()
    assert answer.value.status == 422
    expect = _expect()
    expect(page.locator("#error-prompt")).to_have_text("prompt is required")
    expect(page.locator("#error-num_outputs")).to_have_text("Must be less than or equal to 4")
    assert page.get_by_label("Num Outputs", exact=True).get_attribute("aria-invalid") == "true"
    expect(page.get_by_label("Num Outputs", exact=True)).to_have_value("9")  # kept
    b.shot("model-form-errors")


def test_an_uploaded_image_goes_in_as_a_file_url(visit, server, http):
    picture = io.BytesIO()
    Image.new("RGB", (96, 64), (200, 40, 40)).save(picture, "PNG")
    b = visit()
    b.sign_in()
    page = b.page
    page.goto("/models/black-forest-labs/flux-dev")
    page.get_by_role("textbox", name="Prompt").fill("a red card")
    page.get_by_label("Num Inference Steps", exact=True).fill("1")
    page.get_by_label("or upload a file").set_input_files(
        {"name": "card.png", "mimeType": "image/png", "buffer": picture.getvalue()})
    page.get_by_role("button", name="Run").click()
    page.wait_for_url(re.compile(r"/p/[a-z0-9]{26}$"))
    _expect()(page.locator("#status")).to_have_text("succeeded")
    _expect()(page.locator("#logs")).to_contain_text("Input image size: 96x64")
    stored = http.get(f"/v1/predictions/{_path(page.url).rsplit('/', 1)[1]}").json()
    assert stored["input"]["image"].startswith(f"{server.base_url}/v1/files/")
    files = http.get("/v1/files").json()["results"]
    assert files[0]["name"] == "card.png" and files[0]["size"] == len(picture.getvalue())


def test_a_list_of_images_and_a_custom_size_from_the_form(visit, server, http):
    pictures = []
    for colour in ((200, 40, 40), (40, 40, 200)):
        buffer = io.BytesIO()
        Image.new("RGB", (80, 60), colour).save(buffer, "PNG")
        pictures.append(buffer.getvalue())
    b = visit()
    b.sign_in()
    page = b.page
    page.goto("/models/black-forest-labs/flux-2-flex")
    page.get_by_role("textbox", name="Prompt").fill("two cards")
    images = page.get_by_label("Input Images", exact=True)
    assert images.evaluate("e => e.tagName") == "TEXTAREA"
    images.fill(f"{server.base_url}/nowhere-yet.png")
    images.fill("")  # typed URLs and uploads go together; here only uploads
    page.get_by_label("or upload files (up to 10)").set_input_files([
        {"name": f"card-{i}.png", "mimeType": "image/png", "buffer": data}
        for i, data in enumerate(pictures)])
    page.get_by_label("Aspect Ratio").select_option("custom")
    page.get_by_label("Width", exact=True).fill("500")
    page.get_by_label("Height", exact=True).fill("260")
    page.get_by_role("button", name="Run").click()
    page.wait_for_url(re.compile(r"/p/[a-z0-9]{26}$"))
    _expect()(page.locator("#status")).to_have_text("succeeded")
    _expect()(page.locator("#logs")).to_contain_text("Input image 2 of 2 size: 80x60")
    stored = http.get(f"/v1/predictions/{_path(page.url).rsplit('/', 1)[1]}").json()
    assert len(stored["input"]["input_images"]) == 2
    assert all(url.startswith(f"{server.base_url}/v1/files/")
               for url in stored["input"]["input_images"])
    assert (stored["input"]["width"], stored["input"]["height"]) == (500, 260)
    output = httpx.get(stored["output"])
    assert Image.open(io.BytesIO(output.content)).size == (496, 256)  # to multiples of 16
    b.shot("model-form-image-list")
    assert b.errors == []


def test_a_phone_sized_screen_needs_no_horizontal_scrolling(visit, http):
    b = visit(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    b.sign_in()
    wide = "document.documentElement.scrollWidth - window.innerWidth"
    for path, name in [(SCHNELL, "phone-model-form"),
                       ("/models/black-forest-labs/flux-dev", "phone-model-form-dev"),
                       ("/", "phone-home")]:
        b.page.goto(path)
        assert b.page.evaluate("window.innerWidth") == 360
        assert b.page.evaluate(wide) <= 0, path
        b.shot(name)
    done = http.post("/v1/models/black-forest-labs/flux-schnell/predictions",
                     headers={"Prefer": "wait"},
                     json={"input": {"prompt": "a phone", "aspect_ratio": "21:9",
                                     "megapixels": "0.25"}}).json()
    b.page.goto(f"/p/{done['id']}")
    b.page.wait_for_function("document.querySelector('#output img').naturalWidth > 0")
    assert b.page.evaluate(wide) <= 0
    b.shot("phone-prediction")


def test_every_answer_carries_the_security_headers(server):
    with httpx.Client(base_url=server.base_url) as anonymous:
        answers = [anonymous.get("/login"), anonymous.get("/"), anonymous.get("/static/app.js"),
                   anonymous.get("/static/app.css"), anonymous.get("/static/nothing.js"),
                   anonymous.post("/login", data={"token": "wrong"})]
    for answer in answers:
        headers = answer.headers
        policy = headers["content-security-policy"]
        assert "script-src 'self'" in policy and "img-src 'self' data:" in policy
        assert "connect-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert "'unsafe-inline'" not in policy
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"
        assert headers["x-frame-options"] == "DENY"
    assert answers[2].headers["content-type"].startswith("text/javascript")
    assert answers[4].status_code == 404
    # No inline script anywhere: the policy would block it.
    assert "<script>" not in answers[0].text and "<script src=" in answers[0].text


def test_revoking_the_key_ends_its_sessions_at_once(visit, server):
    created = _keys(server, "create", "--account", "carol").strip().splitlines()
    key_id = created[0].split()[2]
    b = visit()
    b.sign_in(created[-1])
    _expect()(b.page.get_by_text("Signed in as carol")).to_be_visible()
    _keys(server, "revoke", key_id)
    # Every process notices a revocation within a quarter of a second.
    give_up = time.monotonic() + 5
    while _path(b.page.url) != "/login":
        assert time.monotonic() < give_up, "the session outlived its key"
        b.page.goto("/")


PUBLIC = "https://replicast.example"


@pytest.fixture(scope="module")
def proxied(tmp_path_factory):
    """A server behind an HTTPS proxy, taking files of at most 1000 bytes."""
    process = ServerProcess(tmp_path_factory.mktemp("proxied"),
                            env={"REPLICAST_PUBLIC_URL": PUBLIC,
                                 "REPLICAST_MAX_FILE_BYTES": "1000"}).start()
    yield process
    process.stop()


def _proxy_client(server: ServerProcess) -> httpx.Client:
    """A client posting as the pages behind the proxy do."""
    return httpx.Client(base_url=server.base_url, headers={"Origin": PUBLIC})


def _sign_in(client: httpx.Client) -> str:
    """Sign in; the ``Set-Cookie`` header of the answer."""
    signed = client.post("/login", data={"token": TOKEN, "next": "/"})
    assert signed.status_code == 303
    return signed.headers["set-cookie"]


def test_behind_https_the_cookie_is_secure_and_host_only(proxied):
    with _proxy_client(proxied) as client:
        cookie = _sign_in(client)
        name, _, rest = cookie.partition("=")
        assert name == "__Host-replicast_session"
        flags = {flag.strip().lower() for flag in rest.split(";")[1:]}
        assert {"secure", "httponly", "path=/", "samesite=strict"} <= flags
        value = rest.split(";")[0]
        home = client.get("/", headers={"Cookie": f"{name}={value}"})
        assert home.status_code == 200 and "Signed in as" in home.text
        # The plain name means nothing here: it could have come over plain HTTP.
        plain = client.get("/", headers={"Cookie": f"replicast_session={value}"})
        assert plain.status_code == 303


def test_signing_out_ends_every_copy_of_the_cookie(proxied):
    with _proxy_client(proxied) as client:
        session = {"Cookie": _sign_in(client).split(";")[0]}
        copied = dict(session)  # as if someone had taken a copy of the cookie
        home = client.get("/", headers=session)
        assert home.status_code == 200 and "Signed in as" in home.text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', home.text)
        assert csrf is not None
        out = client.post("/logout", headers=session, data={"csrf_token": csrf[1]})
        assert out.status_code == 303 and "Max-Age=0" in out.headers["set-cookie"]
        after = client.get("/", headers=copied)
        assert after.status_code == 303 and "/login" in after.headers["location"]
        # The database holds no cookie: only the SHA-256 of each session's id.
        cookie_id = copied["Cookie"].partition("=")[2].partition(".")[2]
        stored = b"".join(f.read_bytes() for f in proxied.data_dir.glob("replicast.db*"))
        assert b"web_sessions" in stored and cookie_id.encode() not in stored


def test_signing_in_again_ends_the_session_before(proxied):
    with _proxy_client(proxied) as client:
        first = {"Cookie": _sign_in(client).split(";")[0]}
        again = client.post("/login", data={"token": TOKEN, "next": "/"}, headers=first)
        assert again.status_code == 303
        second = {"Cookie": again.headers["set-cookie"].split(";")[0]}
        assert client.get("/", headers=second).status_code == 200
        assert client.get("/", headers=first).status_code == 303  # the one it replaced


def test_an_upload_too_large_is_shown_beside_its_field(proxied):
    with _proxy_client(proxied) as client:
        session = _sign_in(client).split(";")[0]
        form = client.get("/models/black-forest-labs/flux-dev", headers={"Cookie": session})
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert csrf is not None
        answer = client.post(
            "/models/black-forest-labs/flux-dev", headers={"Cookie": session},
            data={"csrf_token": csrf[1], "prompt": "a boat"},
            files={"upload:image": ("big.png", b"x" * 2000, "image/png")})
    assert answer.status_code == 422
    assert re.search(r'<p class="field-error" id="error-image">Files must be less than '
                     r"1000 bytes in size</p>", answer.text)
    assert 'id="input-prompt" name="prompt"' in answer.text and ">a boat</textarea>" in answer.text
