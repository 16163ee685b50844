"""notebooks/05_interactive_mask_explorer.ipynb in a real JupyterLab, in headless Chromium
(chapter 02's fill-mask explorer: tests/test_browser_fill_mask.py).

One JupyterLab session per notebook (start Lab, open the notebook, run all cells), then each
test checks one thing in the page. Screenshots: artifacts/browser/*.png. Skipped without
/usr/bin/chromium, except with CI set, where that fails (see tests/browser/lab.py).
"""

from __future__ import annotations

import time

import pytest
from browser import lab as lab_module
from browser.lab import lab_session, wait_for_change

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

NOTEBOOK = "05_interactive_mask_explorer.ipynb"
JS_ERRORS = ("require is not defined", "Javascript Error", "could not load", "were not found")


@pytest.fixture(scope="module")
def lab():
    with lab_session() as session:
        page_errors: list[str] = []
        session.page.on("pageerror", lambda exc: page_errors.append(str(exc)))
        start = time.monotonic()
        session.open(NOTEBOOK)
        session.run_all()
        session.run_all_s = time.monotonic() - start
        session.page_errors = page_errors
        yield session


@pytest.mark.parametrize("ci, outcome", [("true", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_missing_chromium_skips_locally_but_fails_under_ci(monkeypatch, tmp_path, ci, outcome):
    monkeypatch.setattr(lab_module, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="apt-get install"):
        lab_module.require_chromium()


def test_bertviz_views_render_offline(lab):
    views = lab.panel.locator(".dynmask-bertviz")
    assert views.count() == 4, "expected 4 bertviz outputs (head and model views, without/with mask)"
    for i in range(4):
        views.nth(i).locator("svg text").first.wait_for(state="attached", timeout=30_000)
    text = lab.panel.inner_text()
    for marker in JS_ERRORS:
        assert marker not in text, f"{marker!r} shown in the notebook"
    assert not [e for e in lab.page_errors if "require" in e or "d3" in e], lab.page_errors
    for i, name in enumerate(["bertviz_head_view", "bertviz_head_view_causal", "bertviz_model_view"]):
        views.nth(i).scroll_into_view_if_needed()
        lab.screenshot(name, views.nth(i))


def _slider(lab, label: str):
    slider = lab.panel.locator(".widget-slider", has_text=label).first
    slider.wait_for(state="visible", timeout=30_000)
    return slider


def test_masking_explorer_epoch_slider_changes_the_image(lab):
    slider = _slider(lab, "show epochs")
    has_slider = lab.page.locator(".widget-slider", has_text="show epochs")  # relative to the box
    widget = lab.panel.locator(".widget-vbox", has=has_slider).last
    image = widget.locator("img.widget-image").first
    image.scroll_into_view_if_needed(timeout=30_000)
    # The slider hides its 0-based value; the label beside it counts epochs from 1.
    label = widget.locator(".widget-label", has_text="(of ").first
    assert label.inner_text().strip() == "1 (of 10)"
    before = image.screenshot()
    lab.screenshot("masking_explorer_epoch0", widget)

    slider.locator(".noUi-handle").first.focus()
    lab.page.keyboard.press("ArrowRight")
    assert wait_for_change(lambda: label.inner_text().strip(), "1 (of 10)", lab) == "2 (of 10)"
    after = wait_for_change(image.screenshot, before, lab)
    assert after != before, "the figure did not change when the epoch slider moved"
    lab.screenshot("masking_explorer_epoch1", widget)


def test_attention_explorer_rule_change_changes_the_heatmaps(lab):
    has_rule = lab.page.locator(".widget-dropdown", has_text="mask rule")
    widget = lab.panel.locator(".widget-vbox", has=has_rule).last
    rule = widget.locator(".widget-dropdown", has_text="mask rule").locator("select")
    image = widget.locator("img.widget-image").first
    image.scroll_into_view_if_needed(timeout=30_000)
    lab.wait_idle()
    before = image.screenshot()
    lab.screenshot("attention_explorer_before", widget)
    status = widget.locator(".widget-html", has_text="forward passes").first
    rule.select_option("sliding_window")
    assert "sliding_window" in wait_for_change(status.inner_text, status.inner_text(), lab)
    after = wait_for_change(image.screenshot, before, lab)
    assert after != before, "the heatmaps did not change when the mask rule changed"
    assert "Could not update" not in widget.inner_text()
    lab.screenshot("attention_explorer_sliding_window", widget)
