"""The SurveySphere connection form, used as a person would: in headless Chromium, on the deployment's UI.

Add Connection, choose SurveySphere, read every label, placeholder and description, fill it in, save,
press Test and read the result; then the same with a wrong secret and read the error; the secret is never
in the page's HTML. Airflow 3 has a React UI (Test is an icon in the connection's row of the list);
Airflow 2.11 a Flask form (Test is a button in the form).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from airflow_provider_surveysphere.sandbox import SandboxServer

from tests.browser.conftest import SCREENSHOTS
from tests.deploy.harness import ADMIN_PASSWORD, ADMIN_USER, AIRFLOW_3, Deployment

pytestmark = pytest.mark.browser

#: label -> placeholder of the standard fields, and label -> description of the extra fields.
STANDARD_FIELDS = {
    "Base URL": "https://app.surveysphere.co.uk",
    "Client ID": "your client id",
    "Client Secret": "your client secret",
    "Port (used when the Base URL has none)": "443",  # relabelled: the Base URL's own port wins
}
EXTRA_FIELDS = {
    "Token URL": "Absolute URL or path of the token endpoint (default /connect/token).",
    "Scope": "OAuth scope sent with the token request, if your client needs one.",
    "Timeout (seconds)": "Seconds to wait for the server on each request (default 60).",
    "Verify TLS": "true, false, or the path of a CA bundle (default: verify with the system's CAs).",
    "Max retries": "How many times a transient failure (429, 5xx, dropped connection) is retried (default 5).",
    "Token refresh leeway (seconds)": (
        "Renew the token when fewer seconds than this remain (default 60, at most half its lifetime)."
    ),
}
WRONG_SECRET = "wrong-secret-7f3a91"


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


class ReactForm:
    """Airflow 3's UI: a dialog to add a connection, Test as an icon in the list."""

    def __init__(self, page: Any, airflow: Deployment) -> None:
        self.page = page
        self.airflow = airflow

    def log_in(self) -> None:
        # The simple auth manager with all_admins: this endpoint sets the session cookie and redirects.
        self.page.goto(f"{self.airflow.base_url}/auth/token/login?next={self.airflow.base_url}/connections")
        self.page.get_by_role("button", name="Add Connection").wait_for()

    def open_add_form(self) -> None:
        self.page.goto(f"{self.airflow.base_url}/connections")
        self.page.get_by_role("button", name="Add Connection").click()
        self.dialog = self.page.get_by_role("dialog")
        self.dialog.get_by_role("combobox").fill("SurveySphere")
        self.page.keyboard.press("Enter")
        self.dialog.locator("input[name=host]").wait_for()

    def fields(self) -> dict[str, tuple[str | None, str]]:
        """label -> (placeholder, description) of every field the form shows."""
        found = {}
        for group in self.dialog.locator("[data-scope=field][data-part=root]").all():
            labels = group.locator("label")
            if not labels.count():
                continue
            label = squash(labels.first.inner_text()).rstrip(" *")
            inputs = group.locator("input[name], textarea[name]")
            placeholder = inputs.first.get_attribute("placeholder") if inputs.count() else None
            helper = group.locator("[data-part=helper-text]")
            found[label] = (placeholder or None, squash(helper.first.inner_text()) if helper.count() else "")
        return found

    def fill(self, conn_id: str, host: str, port: int, login: str, secret: str) -> None:
        self.dialog.locator("input[name=connection_id]").fill(conn_id)
        self.dialog.locator("input[name=host]").fill(host)
        self.dialog.locator("input[name=port]").fill(str(port))
        self.dialog.locator("input[name=login]").fill(login)
        self.dialog.locator("input[name=password]").fill(secret)

    def save_and_test(self, conn_id: str) -> tuple[bool, str]:
        """Save, then press the Test icon in the connection's row of the list."""
        self.save()
        return self.test(conn_id)

    def save(self) -> None:
        with self.page.expect_response(lambda r: r.url.endswith("/api/v2/connections") and r.request.method == "POST") as saved:
            self.dialog.get_by_role("button", name="Save").click()
        assert saved.value.status == 201, saved.value.text()
        self.dialog.wait_for(state="hidden")

    def test(self, conn_id: str) -> tuple[bool, str]:
        """Press the row's Test icon; the result as the UI shows it: the icon, else the error toast."""
        self.page.goto(f"{self.airflow.base_url}/connections")
        button = self.page.get_by_role("row").filter(has_text=conn_id).get_by_role("button", name="Test Connection")
        with self.page.expect_response(lambda r: "/api/v2/connections/test" in r.url) as answer:
            button.click()
        result = answer.value.json()
        assert answer.value.status == 200, result  # 400 is Airflow 3.3 refusing a port the form sent as 0
        if result["status"]:
            # Success shows as a green icon only; the message is in the answer the page received.
            button.locator("svg[color=green]").wait_for()
            return True, result["message"]
        toast = self.page.locator("[data-scope=toast][data-part=root]").filter(has_text="Test Connection Failed")
        toast.first.wait_for()
        return False, squash(toast.first.inner_text())


class FlaskForm:
    """Airflow 2.11's UI: a Flask-AppBuilder form with a Test button."""

    def __init__(self, page: Any, airflow: Deployment) -> None:
        self.page = page
        self.airflow = airflow

    def log_in(self) -> None:
        self.page.goto(f"{self.airflow.base_url}/login/")
        self.page.fill("input[name=username]", ADMIN_USER)
        self.page.fill("input[name=password]", ADMIN_PASSWORD)
        self.page.click("input[type=submit], button[type=submit]")
        self.page.wait_for_url(re.compile(r".*/home.*"))

    def open_add_form(self) -> None:
        self.page.goto(f"{self.airflow.base_url}/connection/add")
        self.page.select_option("select#conn_type", "surveysphere")
        self.page.locator("input#host").wait_for()

    def fields(self) -> dict[str, tuple[str | None, str]]:
        found = {}
        for group in self.page.locator("#model_form tr").all():
            if not group.is_visible():
                continue
            label_el = group.locator("label")
            if not label_el.count():
                continue
            label = squash(label_el.first.inner_text()).rstrip(" *")
            inputs = group.locator("input[name], textarea[name], select[name]")
            placeholder = inputs.first.get_attribute("placeholder") if inputs.count() else None
            helper = group.locator(".help-block")
            found[label] = (placeholder or None, squash(helper.first.inner_text()) if helper.count() else "")
        return found

    def save_and_test(self, conn_id: str) -> tuple[bool, str]:
        """Press Test in the filled-in form (what a user does before saving), then Save."""
        result = self.test(conn_id)
        self.page.get_by_role("button", name="Save").click()
        self.page.locator(".alert", has_text="Added Row").first.wait_for()
        return result

    def fill(self, conn_id: str, host: str, port: int, login: str, secret: str) -> None:
        self.page.fill("input#conn_id", conn_id)
        self.page.fill("input#host", host)
        self.page.fill("input#port", str(port))
        self.page.fill("input#login", login)
        self.page.fill("input#password", secret)

    def test(self, conn_id: str) -> tuple[bool, str]:
        """Press Test in the form; the alert's text. (The edit form does not show a stored secret, so
        testing from it needs the secret typed again: Airflow 2.11 tests what the form holds.)"""
        with self.page.expect_response(lambda r: "/api/v1/connections/test" in r.url) as answer:
            self.page.click("button#test-connection")
        result = answer.value.json()
        alert = self.page.locator(".alert").filter(has_text=re.compile("SurveySphere|token"))
        alert.first.wait_for()
        return bool(result.get("status")), squash(alert.first.inner_text())


def form(page: Any, airflow: Deployment) -> ReactForm | FlaskForm:
    return ReactForm(page, airflow) if AIRFLOW_3 else FlaskForm(page, airflow)


def assert_secret_not_in_html(page: Any, *secrets: str) -> None:
    html = page.content()
    for secret in secrets:
        assert secret not in html, f"a secret is in the HTML of {page.url}"


def test_connection_form_labels_save_test_and_wrong_secret(
    browser: Any, deployment: Deployment, deploy_sandbox: SandboxServer
) -> None:
    secret = deploy_sandbox.config.client_secret
    page = browser.new_page()
    ui = form(page, deployment)
    line = "3" if AIRFLOW_3 else "2"
    try:
        ui.log_in()
        ui.open_add_form()
        shown = ui.fields()
        page.screenshot(path=str(SCREENSHOTS / f"airflow{line}-form.png"), full_page=True)
        for label, placeholder in STANDARD_FIELDS.items():
            assert shown.get(label, (None,))[0] == placeholder, (label, shown.get(label))
        for label, description in EXTRA_FIELDS.items():
            assert label in shown and shown[label][1] == description, (label, shown.get(label))
        assert "Schema" not in shown  # hidden: the provider does not use it
        if not AIRFLOW_3:  # Airflow 3 shows Extra as a JSON editor without a placeholder
            assert shown["Extra"][0] == '{"timeout": 60, "max_retries": 5}'

        ui.fill("surveysphere_ui", deploy_sandbox.base_url, deploy_sandbox.port, "sandbox-client", secret)
        ok, message = ui.save_and_test("surveysphere_ui")
        page.screenshot(path=str(SCREENSHOTS / f"airflow{line}-test-success.png"), full_page=True)
        assert ok, message
        assert "SurveySphere" in message and secret not in message
        page.goto(f"{deployment.base_url}/connections" if AIRFLOW_3 else f"{deployment.base_url}/connection/list/")
        page.get_by_text("surveysphere_ui").first.wait_for()
        assert_secret_not_in_html(page, secret)

        ui.open_add_form()
        ui.fill("surveysphere_wrong", deploy_sandbox.base_url, deploy_sandbox.port, "sandbox-client", WRONG_SECRET)
        ok, message = ui.save_and_test("surveysphere_wrong")
        page.screenshot(path=str(SCREENSHOTS / f"airflow{line}-test-wrong-secret.png"), full_page=True)
        assert not ok
        assert "refused the credentials: invalid_client" in message, message
        assert WRONG_SECRET not in message
        page.goto(f"{deployment.base_url}/connections" if AIRFLOW_3 else f"{deployment.base_url}/connection/list/")
        page.get_by_text("surveysphere_wrong").first.wait_for()
        assert_secret_not_in_html(page, secret, WRONG_SECRET)
    except BaseException:
        page.screenshot(path=str(SCREENSHOTS / f"airflow{line}-failure.png"), full_page=True)
        raise
    finally:
        page.close()
