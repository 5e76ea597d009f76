"""On a phone (390 x 844), in a real browser: a supervisor opens the filtered inbox, reviews
the most urgent escalation, claims and approves it with the keyboard, and goes on to the
next one of the same list; nothing is wider than the screen and no script errs."""

from tests.browser.pages import requires_chromium, sign_in
from tests.browser.test_inbox_live import (  # noqa: F401 (fixtures)
    escalate,
    off_the_loop,
    people,
    wait_until_live,
)
from workflows.models import ActionType

pytestmark = requires_chromium

PHONE = {"width": 390, "height": 844}


def _titled() -> None:
    ActionType.objects.update(title="Create purchase order", summary_fields=["supplier", "amount"])


def ready(page) -> None:
    """The live socket is open and the page's keyboard and link handling are set up."""
    wait_until_live(page)
    page.wait_for_selector("body[data-escalation-js=ready]", state="attached")


def fits_the_screen(page) -> bool:
    """Nothing makes the page scroll sideways (wide tables scroll inside their own box)."""
    return page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_a_supervisor_works_the_inbox_on_a_phone_with_the_keyboard(
    people,  # noqa: F811 (the fixtures imported above)
    browser,
    asgi_server,
    tmp_path,
):
    off_the_loop(_titled)
    first = escalate(people["agent"], {"amount": 7200, "supplier": "Globex Industrial"})
    second = escalate(people["agent"], {"amount": 6100, "supplier": "ACME"})
    problems: list[str] = []
    page = sign_in(browser, asgi_server, "sam", problems)
    page.set_viewport_size(PHONE)
    page.goto(f"{asgi_server.url}/workflows/inbox/?state=open")
    ready(page)
    row = page.locator(f"#escalation-{first.pk}")
    assert "Create purchase order" in row.inner_text()
    assert "supplier Globex Industrial · amount 7,200" in row.inner_text()
    assert "Needs approval" in row.inner_text()
    due = row.locator("time[data-relative]")
    assert due.inner_text().startswith("in ")
    assert due.get_attribute("title").endswith(" UTC")
    assert page.locator("#priority-legend").is_visible()
    assert fits_the_screen(page)
    page.screenshot(path=tmp_path / "inbox-390.png", full_page=True)

    page.click(f"#escalation-{first.pk}-link")
    page.wait_for_url(f"**/workflows/inbox/{first.pk}/?from=state%3Dopen")
    ready(page)
    assert page.inner_text("#escalation-title") == "Create purchase order"
    assert page.locator("#shortcuts").is_visible()
    assert fits_the_screen(page)
    page.screenshot(path=tmp_path / "escalation-390.png", full_page=True)
    page.screenshot(path=tmp_path / "escalation-top-390.png")

    page.keyboard.press("c")
    page.wait_for_selector("#unclaim-button")
    page.once("dialog", lambda dialog: dialog.accept())
    page.keyboard.press("a")
    page.wait_for_selector("#decision-outcome")
    assert "approved by sam" in page.inner_text("#decision-outcome")
    assert "Create purchase order" in page.inner_text("#decided-next")
    page.screenshot(path=tmp_path / "escalation-approved-390.png", full_page=True)
    page.locator("#decision-panel").screenshot(path=tmp_path / "decision-panel-390.png")

    page.keyboard.press("j")
    page.wait_for_url(f"**/workflows/inbox/{second.pk}/?from=state%3Dopen")
    ready(page)
    page.keyboard.press("r")
    assert page.evaluate("document.activeElement.name") == "reason"
    page.keyboard.type("Not this supplier.")  # typing in a field triggers no shortcut
    assert page.url.endswith(f"/workflows/inbox/{second.pk}/?from=state%3Dopen")
    assert fits_the_screen(page)
    assert problems == [], "\n".join(problems)
