"""A real browser for the admin pages: Debian's headless Chromium driven by Selenium.

Pages are served by pytest-django's ``live_server`` and logged in with a session cookie, so
no password hashing or login form is needed. They run in the PostgreSQL pass: the live
server's threads need a database they can share, which in-memory SQLite is not. Each test
saves a screenshot under ``$WHATSAPP_TEST_SCREENSHOTS`` (default:
``<tmp>/whatsapp_notify_screenshots``) for a person to look at. Without
``/usr/bin/chromium`` and ``/usr/bin/chromedriver`` the tests skip; under ``CI=true`` they
fail (``.ci/run`` installs both from Debian's packages).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model

from tests.conftest import IN_CI

CHROMIUM = os.environ.get("WHATSAPP_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("WHATSAPP_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
CAPTURAS = Path(
    os.environ.get("WHATSAPP_TEST_SCREENSHOTS")
    or Path(tempfile.gettempdir()) / "whatsapp_notify_screenshots"
)
# The machine has no network beyond loopback: without these Chromium keeps trying to reach
# its update, sync and safe-browsing services, and every start slows down.
OPCIONES = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,900",
    "--lang=es",
)


def _exigir_chromium() -> None:
    faltan = [ruta for ruta in (CHROMIUM, CHROMEDRIVER) if not shutil.which(ruta)]
    if not faltan:
        return
    mensaje = f"falta {', '.join(faltan)} (apt-get install chromium chromium-driver)"
    if IN_CI:
        pytest.fail(f"{mensaje}: CI=true exige el navegador.", pytrace=False)
    pytest.skip(mensaje)


@pytest.fixture(scope="session")
def _driver():
    _exigir_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opciones = webdriver.ChromeOptions()
    opciones.binary_location = CHROMIUM
    for opcion in OPCIONES:
        opciones.add_argument(opcion)
    perfil = tempfile.mkdtemp(prefix="wn-chromium-")
    opciones.add_argument(f"--user-data-dir={perfil}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opciones)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
    shutil.rmtree(perfil, ignore_errors=True)


class Navegador:
    """The browser, logged in to the admin of ``live_server`` as a superuser."""

    def __init__(self, driver, base_url: str):
        self.driver = driver
        self.base_url = base_url

    def abrir(self, ruta: str) -> None:
        self.driver.get(f"{self.base_url}{ruta}")

    def captura(self, nombre: str) -> Path:
        """Save a PNG of the page as ``<nombre>.png``; return its path."""
        CAPTURAS.mkdir(parents=True, exist_ok=True)
        ruta = CAPTURAS / f"{nombre}.png"
        self.driver.save_screenshot(str(ruta))
        return ruta

    def texto(self) -> str:
        return self.driver.find_element("tag name", "body").text

    def css(self, selector: str):
        return self.driver.find_elements("css selector", selector)

    def esperar(self, selector: str, segundos: float = 10):
        """Wait for the page that shows ``selector`` (a click returns before it loads)."""
        from selenium.webdriver.support import expected_conditions
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, segundos).until(
            expected_conditions.presence_of_element_located(("css selector", selector))
        )


@pytest.fixture
def navegador(_driver, live_server, client, postgres, transactional_db) -> Navegador:
    """A Chromium page logged in to the admin (a fresh session cookie per test)."""
    usuario = get_user_model().objects.create_superuser("ops", "ops@example.com", password=None)
    client.force_login(usuario)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    _driver.delete_all_cookies()
    _driver.get(f"{live_server.url}/admin/login/")  # a page of the domain, to set its cookie
    _driver.add_cookie({"name": settings.SESSION_COOKIE_NAME, "value": cookie, "path": "/"})
    return Navegador(_driver, live_server.url)
