"""End-to-end fixtures: the real API on a free port, driven by a real Chromium.

The browser is Debian's ``chromium`` (``CHROMIUM_PATH``, default ``/usr/bin/chromium``),
else the one Playwright installed itself; with neither, every e2e test is skipped with
the reason. Failed tests leave a screenshot in ``tests/console/artifacts/``.
``CONSOLE_SCREENSHOTS=1`` also saves one picture per panel into ``docs/screenshots/``.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
import redis
from werkzeug.serving import make_server

from ai_backends.api.context import services_of

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
DOC_SCREENSHOTS = ROOT / "docs" / "screenshots"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
LAPTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


def _playwright_chromium() -> str | None:
    """The path of Playwright's own Chromium, when ``playwright install`` has put one there."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        path = playwright.chromium.executable_path
    return path if path and Path(path).exists() else None


def find_chromium() -> tuple[str | None, str]:
    """(executable path or None for Playwright's own, reason when no browser exists at all)."""
    configured = os.environ.get("CHROMIUM_PATH")
    if configured:
        if Path(configured).exists():
            return configured, ""
        return None, f"CHROMIUM_PATH={configured} does not exist"
    if Path(DEFAULT_CHROMIUM).exists():
        return DEFAULT_CHROMIUM, ""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        on_path = shutil.which(name)
        if on_path:
            return on_path, ""
    if _playwright_chromium():
        return None, ""
    return None, (f"no browser: install Debian's chromium (apt-get install chromium), set "
                  f"CHROMIUM_PATH, or run 'playwright install chromium'; {DEFAULT_CHROMIUM} "
                  f"does not exist")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright's launch options: headless Chromium from the OS when it has one."""
    path, missing = find_chromium()
    if missing:
        pytest.skip(missing)
    args = {**browser_type_launch_args, "headless": True, "args": CHROMIUM_ARGS}
    if path:
        args["executable_path"] = path
    return args


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    """A laptop-sized window; the phone width is tested separately."""
    return {**browser_context_args, "viewport": LAPTOP}


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve ``app`` with a threaded WSGI server on a free loopback port; yield its URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="e2e-api", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture
def start_api(app_config: dict[str, Any]) -> Iterator[Callable[..., str]]:
    """Start the real API with the test settings plus ``overrides``; return its URL."""
    from ai_backends.api.app import create_app

    stack: list[Any] = []

    def start(**overrides: Any) -> str:
        app = create_app({**app_config, **overrides})
        context = serve(app)
        url = context.__enter__()
        stack.append((app, context))
        return url

    yield start
    for app, context in reversed(stack):
        context.__exit__(None, None, None)
        with suppress(redis.RedisError):  # some tests point the API at a dead Redis
            services_of(app).classification.cache.clear()


@pytest.fixture
def api_url(start_api: Callable[..., str]) -> str:
    """The URL of an API with the default test settings."""
    return start_api()


@pytest.fixture
def open_panel(page: Any) -> Callable[[str, str], Any]:
    """Open the console at ``url`` on ``panel`` and wait until its script is ready."""

    def open_(url: str, panel: str = "classify") -> Any:
        page.set_default_timeout(20_000)
        page.goto(f"{url}/#{panel}")
        page.wait_for_selector("body[data-ready='true']")
        return page

    return open_


def save_panel_screenshot(page: Any, name: str) -> None:
    """With CONSOLE_SCREENSHOTS=1, save the page as docs/screenshots/<name>.png."""
    if os.environ.get("CONSOLE_SCREENSHOTS") != "1":
        return
    DOC_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOC_SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep each phase's report on the test item, so fixtures can see a failure."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture(autouse=True)
def screenshot_on_failure(request: pytest.FixtureRequest, page: Any) -> Iterator[None]:
    """Save the browser page of a failed test under tests/console/artifacts/."""
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{request.node.name}.png"
        try:
            page.screenshot(path=str(path), full_page=True)
            print(f"screenshot of the failure: {path}")
        except Exception as exc:  # the page may be gone; the test failure matters more
            print(f"could not save a screenshot: {exc}")


@pytest.fixture(scope="session")
def sidecars(model_dir: Path) -> Iterator[dict[str, str]]:
    """The real REST and gRPC sidecars on free ports, as API settings pointing at them."""
    from tests.oip.servers import both_sidecars

    with both_sidecars(model_dir) as settings:
        yield settings


@pytest.fixture(scope="session")
def registry_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An MLflow store (SQLite in a temp folder) holding two trained versions of each model."""
    from ai_backends.classify.training import train_model
    from ai_backends.mlops.registry import ModelRegistry

    data_dir = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{data_dir / 'mlflow.db'}"
    registry = ModelRegistry(uri, data_dir)
    for _ in range(2):  # the first version gets the production alias
        trained = train_model(tmp_path_factory.mktemp("registry-models"), data_dir)
        registry.register_trained(trained)
    return uri
