"""Helpers for the browser tests (JupyterLab in headless Chromium)."""
