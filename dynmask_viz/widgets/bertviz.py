"""bertviz's head and model views, working offline with the vendored scripts.

Wraps :func:`bertviz.head_view` and :func:`bertviz.model_view`: it asks bertviz for its HTML
(``html_action="return"``) and replaces the CDN ``<script>`` and bertviz's ``require.config``
with a small loader that loads require.js from the vendored files
(:mod:`dynmask_viz.assets.bertviz_js`), points ``d3``/``jquery`` at them, and shows a visible
message (never a blank cell) if they cannot be loaded.

The loader tries, in order: ``<base>/files/<notebook dir>/_static/vendor/`` (the notebook's own
folder, read from the page URL), ``<base>/files/_static/vendor/`` (``make lab`` serves
``notebooks/`` as the root), ``<base>/files/notebooks/_static/vendor/`` (Lab started in the repo
root) and ``_static/vendor/`` relative to the page. ``vendor_url=`` or the env var
``DYNMASK_VIZ_VENDOR_URL`` replaces the list with one URL.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from ..assets.bertviz_js import FIX_HINT, default_vendor_dir, vendor_dir

__all__ = ["head_view", "model_view", "offline_html"]

_CDN_REQUIRE = (
    '<script src="https://cdnjs.cloudflare.com/ajax/libs/require.js/2.3.6/require.min.js"></script>'
)
_SCRIPT_OPEN = '\n<script type="text/javascript">\n'
_REQUIRE_CONFIG = re.compile(r"require\.config\(\{\s*paths:\s*\{[^}]*\}\s*\}\);")


def _as_hf_attentions(attention, tokens, batch_index: int):
    """Normalize to bertviz's input: a tuple of ``[1, heads, q, k]`` tensors, plus tokens."""
    import torch

    if hasattr(attention, "to_bertviz"):  # dynmask_viz.hf.AttentionResult (padding removed)
        attention, own_tokens = attention.to_bertviz(batch_index)
        tokens, batch_index = (own_tokens if tokens is None else tokens), 0
    elif hasattr(attention, "attentions") and not isinstance(attention, (tuple, list)):
        own_tokens = list(getattr(attention, "tokens", None) or [])  # duck-typed: flat or per example
        if own_tokens and isinstance(own_tokens[0], (list, tuple)):
            own_tokens = list(own_tokens[batch_index])
        tokens = own_tokens if tokens is None else tokens
        attention = attention.attentions
        if isinstance(attention, torch.Tensor) and attention.dim() == 5:  # [batch, layers, ...]
            attention, batch_index = attention[batch_index], 0
    if tokens is None:
        raise ValueError("tokens are required: pass tokens=[...] (one string per position).")
    if isinstance(attention, torch.Tensor):
        if attention.dim() != 4:
            raise ValueError(
                f"an attention tensor must be [layers, heads, q, k] (or pass HF's "
                f"tuple of [batch, heads, q, k]); got shape {tuple(attention.shape)}."
            )
        layers = [a.unsqueeze(0) for a in attention]
    elif isinstance(attention, (tuple, list)) and len(attention) > 0:
        layers = []
        for a in attention:
            if not isinstance(a, torch.Tensor) or a.dim() != 4:
                raise ValueError(
                    "each layer must be a [batch, heads, q, k] tensor (Hugging Face "
                    "`outputs.attentions`); did you load the model with eager "
                    "attention and output_attentions=True?"
                )
            layers.append(a[batch_index : batch_index + 1])
    else:
        raise ValueError(
            "no attentions: got an empty value. Load the model with "
            "attn_implementation='eager' (SDPA returns attentions=())."
        )
    layers = tuple(a.detach().float().cpu() for a in layers)
    if layers[0].shape[-1] != len(tokens):
        raise ValueError(f"{len(tokens)} tokens for {layers[0].shape[-1]} attention positions.")
    return layers, [str(t) for t in tokens]


def offline_html(bertviz_html: str, vendor_url: str | None = None, rel: str = "_static/vendor/") -> str:
    """Rewrite the HTML that bertviz returns so that it loads its scripts from vendored files.

    Args:
        bertviz_html: ``bertviz.head_view(..., html_action="return").data`` (or model_view's).
        vendor_url: One URL (ending in ``/``) of the vendor folder; default: the candidate list
            described in the module docstring.
        rel: Path of the vendor folder relative to the notebook's folder.

    Returns:
        HTML with no CDN reference: the bertviz markup and one self-contained loader script.

    Raises:
        ValueError: The HTML does not look like bertviz 1.4's (a different bertviz version).
    """
    if _CDN_REQUIRE not in bertviz_html or _SCRIPT_OPEN not in bertviz_html:
        raise ValueError(
            "Unexpected bertviz HTML (this wrapper targets bertviz 1.4.x): "
            "pin bertviz==1.4.1 (constraints.txt) or pass offline=False."
        )
    markup, script = bertviz_html.replace(_CDN_REQUIRE, "").split(_SCRIPT_OPEN, 1)
    script = script.rsplit("</script>", 1)[0]
    script, n = _REQUIRE_CONFIG.subn("", script, count=1)
    root = re.search(r'<div id="(bertviz-[0-9a-f]+)"', markup)
    if n != 1 or root is None:
        raise ValueError("Unexpected bertviz script (no require.config/root div): pin bertviz==1.4.1.")
    urls = [vendor_url] if vendor_url else None
    loader = (
        _LOADER.replace("ROOT_ID", json.dumps(root.group(1)))
        .replace("FIXED_URLS", json.dumps(urls))
        .replace("REL_PATH", json.dumps(rel))
        .replace("FIX_HINT", json.dumps(FIX_HINT))
        .replace("BERTVIZ_JS", script)
    )
    return (
        f'<div class="dynmask-bertviz" data-mode="offline">{markup}</div>\n'
        f'<script type="text/javascript">\n{loader}\n</script>\n'
    )


_LOADER = """(function () {
  var rootId = ROOT_ID, fixed = FIXED_URLS, rel = REL_PATH;
  function fail(msg) {
    var el = document.getElementById(rootId);
    if (el) { el.innerHTML = '<pre style="color:#b00;white-space:pre-wrap">' + msg + '</pre>'; }
  }
  var base = '/';
  try { base = JSON.parse(document.getElementById('jupyter-config-data').textContent).baseUrl || '/'; } catch (e) {}
  if (base.slice(-1) !== '/') { base += '/'; }
  var bases = fixed || [];
  if (!fixed) {
    var m = window.location.pathname.match(/\\/(?:lab(?:\\/workspaces\\/[^\\/]+)?|doc|notebooks)\\/tree\\/(.*\\/)?[^\\/]*$/)
         || window.location.pathname.match(/\\/notebooks\\/(.*\\/)?[^\\/]*$/);
    if (m && m[1]) { bases.push(base + 'files/' + m[1] + rel); }
    bases.push(base + 'files/' + rel, base + 'files/notebooks/' + rel, rel);
    bases = bases.filter(function (b, i) { return bases.indexOf(b) === i; });
  }
  function run(vbase) {
    var paths = vbase ? {d3: vbase + 'd3.min', jquery: vbase + 'jquery.min'}
      : {d3: bases.map(function (b) { return b + 'd3.min'; }), jquery: bases.map(function (b) { return b + 'jquery.min'; })};
    require.config({paths: paths});
    requirejs(['jquery', 'd3'], function () {
BERTVIZ_JS
    }, function (err) { fail('dynmask-viz: could not load d3/jQuery for bertviz (' + err + '). ' + FIX_HINT + '.'); });
  }
  function load(i) {
    if (typeof window.requirejs === 'function' && typeof window.define === 'function') { run(window.__dynmaskVendorBase); return; }
    if (i >= bases.length) {
      fail('dynmask-viz: the offline bertviz scripts (require.js, d3, jQuery) were not found at ' + bases.join(', ') + '. ' + FIX_HINT + ', then re-run this cell.');
      return;
    }
    var s = document.createElement('script');
    s.src = bases[i] + 'require.js';
    s.onload = function () { window.__dynmaskVendorBase = bases[i]; run(bases[i]); };
    s.onerror = function () { s.remove(); load(i + 1); };
    document.head.appendChild(s);
  }
  load(0);
})();"""


def _view(kind: str, attention, tokens, offline, vendor_url, batch_index, html_action, kwargs):
    import bertviz
    from IPython.display import HTML, display

    if html_action not in ("view", "return"):
        raise ValueError(f"html_action must be 'view' or 'return'; got {html_action!r}.")
    layers, tokens = _as_hf_attentions(attention, tokens, batch_index)
    vendor_url = vendor_url or os.environ.get("DYNMASK_VIZ_VENDOR_URL") or None
    folder = vendor_dir()
    if offline is None:
        offline = folder is not None or vendor_url is not None
    if offline and folder is None and vendor_url is None:
        raise FileNotFoundError(
            f"The offline bertviz scripts (require.js, d3, jQuery) are not "
            f"installed ({default_vendor_dir()}): {FIX_HINT}, or pass offline=False "
            "to load them from the CDN (needs internet in the browser)."
        )
    raw = getattr(bertviz, kind)(layers, tokens, html_action="return", **kwargs)
    if not offline:
        out = HTML(raw.data)
    else:
        rel = "_static/vendor/"
        if folder is not None and folder.resolve().is_relative_to(Path.cwd().resolve()):
            rel = folder.resolve().relative_to(Path.cwd().resolve()).as_posix() + "/"
        out = HTML(offline_html(raw.data, vendor_url, rel))
    if html_action == "return":
        return out
    display(out)
    return None


def head_view(
    attention,
    tokens=None,
    *,
    offline: bool | None = None,
    vendor_url: str | None = None,
    batch_index: int = 0,
    html_action: str = "view",
    **kwargs,
):
    """bertviz's head view, working offline (see the module docstring).

    Args:
        attention: Hugging Face ``outputs.attentions`` (tuple of ``[batch, heads, q, k]`` tensors),
            a ``[layers, heads, q, k]`` tensor, or the result of
            ``dynmask_viz.hf.extract_attention`` (padding removed), or any object with
            ``.attentions`` (``[layers, heads, q, k]`` or ``[batch, layers, heads, q, k]``) and
            ``.tokens`` (flat, or one list per example).
        tokens: One string per position (default: ``attention.tokens``).
        offline: True = vendored scripts, False = bertviz's CDN, None = offline when installed.
        vendor_url: URL of the vendor folder, to override the built-in candidates.
        batch_index: Which sequence of a batch to show.
        html_action: ``"view"`` displays it, ``"return"`` returns the ``IPython.display.HTML``.
        **kwargs: Passed to :func:`bertviz.head_view` (``layer``, ``heads``, ``sentence_b_start``...).

    Raises:
        FileNotFoundError: ``offline=True`` but the scripts are not installed (says how to fix).
        ValueError: Malformed attentions or tokens.
    """
    return _view("head_view", attention, tokens, offline, vendor_url, batch_index, html_action, kwargs)


def model_view(
    attention,
    tokens=None,
    *,
    offline: bool | None = None,
    vendor_url: str | None = None,
    batch_index: int = 0,
    html_action: str = "view",
    **kwargs,
):
    """bertviz's model view (all layers x heads), working offline; arguments as :func:`head_view`."""
    return _view("model_view", attention, tokens, offline, vendor_url, batch_index, html_action, kwargs)
