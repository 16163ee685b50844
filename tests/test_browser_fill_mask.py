"""Chapter 02's FillMaskExplorer in a real JupyterLab, in headless Chromium.

Its own module, so that its JupyterLab session starts after the chapter 05 session of
tests/test_browser_lab.py has closed: two Playwright sync sessions alive at once fail with
"using Playwright Sync API inside the asyncio loop" (both module-scoped fixtures lived until
the end of one module). Skipped without /usr/bin/chromium, except with CI set (see
tests/browser/lab.py).
"""

from __future__ import annotations

import pytest
from browser.lab import lab_session, wait_for_change

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

FILL_MASK_NOTEBOOK = "02_static_vs_dynamic_masking.ipynb"


@pytest.fixture(scope="module")
def lab_02():
    with lab_session() as session:
        session.open(FILL_MASK_NOTEBOOK)
        session.run_all()
        yield session


def test_fill_mask_explorer_type_click_shows_and_changes_predictions(lab_02):
    lab = lab_02
    widget = lab.panel.locator(".dynmask-fill-mask-explorer").first
    widget.scroll_into_view_if_needed(timeout=30_000)
    table = widget.locator("table.dynmask-fill-mask")
    assert table.count() == 0, "predictions shown before any token was masked"
    box = widget.locator(".widget-text input").first
    box.fill("The river flows into the sea near the old city.")
    box.press("Enter")  # the text box updates on Enter (continuous_update=False)
    buttons = widget.locator(".dynmask-fm-tokens button:visible")
    first_word = lambda: buttons.nth(1).inner_text().strip()  # 0 is [CLS]
    assert wait_for_change(first_word, "anarchism", lab) == "the"
    token = buttons.nth(2).inner_text().strip()
    buttons.nth(2).click()
    table.wait_for(state="visible", timeout=30_000)
    truths = widget.locator("td.dynmask-fm-truth")
    assert truths.all_inner_texts() == [token]
    for model in ("static", "dynamic"):
        predictions = table.locator(f"td[data-model='{model}'] .dynmask-fm-pred")
        assert predictions.count() == 5, f"expected the {model} model's top 5"
    before = table.inner_text()
    second = buttons.nth(5).inner_text().strip()
    buttons.nth(5).click()
    after = wait_for_change(table.inner_text, before, lab)
    assert after != before and truths.all_inner_texts() == [token, second]
    assert "Could not update" not in widget.inner_text()
    lab.screenshot("fill_mask_explorer", widget)  # data/screenshots/ holds a copy
