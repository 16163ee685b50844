"""bertviz without a CDN: vendored require.js, d3 and jQuery, served by JupyterLab.

bertviz 1.4.1 loads require.js, d3 5.7.0 and jQuery from cdnjs; offline its views show
"require is not defined". This module

* vendors those three scripts from the npm registry (pinned versions, sha512 integrity checked)
  into ``notebooks/_static/vendor/`` (git-ignored), which JupyterLab serves under ``/files/...``::

      python -m dynmask_viz.bertviz_offline install [--dest DIR] [--from TARBALL_DIR]

  (``make assets`` runs it; it is a no-op when the files are already there and intact);
* wraps :func:`bertviz.head_view` and :func:`bertviz.model_view`: it asks bertviz for its HTML
  (``html_action="return"``) and replaces the CDN ``<script>`` and bertviz's ``require.config``
  with a small loader that loads require.js from the vendored files, points ``d3``/``jquery`` at
  them, and shows a visible message (never a blank cell) if they cannot be loaded.

The loader tries, in order: ``<base>/files/<notebook dir>/_static/vendor/`` (the notebook's own
folder, read from the page URL), ``<base>/files/_static/vendor/`` (``make lab`` serves
``notebooks/`` as the root), ``<base>/files/notebooks/_static/vendor/`` (Lab started in the repo
root) and ``_static/vendor/`` relative to the page. ``vendor_url=`` or the env var
``DYNMASK_VIZ_VENDOR_URL`` replaces the list with one URL.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["VENDOR_FILES", "head_view", "install", "is_installed", "model_view", "vendor_dir",
           "offline_html"]  # fmt: skip

FIX_HINT = "run `make assets` or `python -m dynmask_viz.bertviz_offline install`"
_CDN_REQUIRE = (
    '<script src="https://cdnjs.cloudflare.com/ajax/libs/require.js/2.3.6/require.min.js"></script>'
)
_SCRIPT_OPEN = '\n<script type="text/javascript">\n'
_REQUIRE_CONFIG = re.compile(r"require\.config\(\{\s*paths:\s*\{[^}]*\}\s*\}\);")


@dataclass(frozen=True)
class VendorFile:
    """One vendored script: where it comes from on npm and what it must hash to."""

    name: str  # file name in the vendor dir
    spec: str  # npm package@version
    member: str  # path inside the npm tarball
    integrity: str  # npm's sha512 integrity of the tarball (checked against the registry once)
    sha256: str  # sha256 of the extracted file


# fmt: off
VENDOR_FILES = (
    VendorFile("require.js", "requirejs@2.3.6", "package/require.js",
               "sha512-ipEzlWQe6RK3jkzikgCupiTbTvm4S0/CAU5GlgptkN5SO6F3u0UD0K18wy6ErDqiCyP4J4YYe1HuAShvsxePLg==",
               "9485f0917f97fcf4f63a5ea365200ffd57f123f451382a2f9a1ad2e2fd51ac9b"),
    VendorFile("d3.min.js", "d3@5.7.0", "package/dist/d3.min.js",
               "sha512-8KEIfx+dFm8PlbJN9PI0suazrZ41QcaAufsKE9PRcqYPWLngHIyWJZX96n6IQKePGgeSu0l7rtlueSSNq8Zc3g==",
               "bdad5585ef9a965ff25458738309b006058c55f2c78d794d25fbecae35014609"),
    VendorFile("jquery.min.js", "jquery@2.2.4", "package/dist/jquery.min.js",
               "sha512-lBHj60ezci2u1v2FqnZIraShGgEXq35qCzMv4lITyHGppTnA13rwR0MgwyNJh9TnDs3aXUvd1xjAotfraMHX/Q==",
               "05b85d96f41fff14d8f608dad03ab71e2c1017c2da0914d7c59291bad7a54f8e"),
)
# fmt: on


def default_vendor_dir() -> Path:
    """``notebooks/_static/vendor`` of the source checkout this package lives in."""
    return Path(__file__).resolve().parents[1] / "notebooks" / "_static" / "vendor"


def is_installed(folder: str | os.PathLike | None = None, *, check_hashes: bool = False) -> bool:
    """True when every vendored file is in ``folder`` (and, optionally, hashes right)."""
    folder = Path(folder) if folder is not None else default_vendor_dir()
    for vf in VENDOR_FILES:
        path = folder / vf.name
        if not path.is_file() or path.stat().st_size == 0:
            return False
        if check_hashes and hashlib.sha256(path.read_bytes()).hexdigest() != vf.sha256:
            return False
    return True


def vendor_dir() -> Path | None:
    """The vendor folder the views use, or None when there is none.

    Tried in order: ``$DYNMASK_VIZ_VENDOR_DIR``, ``./_static/vendor`` (the notebook's folder is
    the kernel's working directory) and :func:`default_vendor_dir`.
    """
    env = os.environ.get("DYNMASK_VIZ_VENDOR_DIR")
    candidates = [Path(env)] if env else [Path.cwd() / "_static" / "vendor", default_vendor_dir()]
    return next((c for c in candidates if is_installed(c)), None)


def _integrity(path: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def _npm_pack(workdir: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm was not found: install Node.js/npm (e.g. `apt-get install npm`).")
    specs = [vf.spec for vf in VENDOR_FILES]
    proc = subprocess.run([npm, "pack", *specs, "--silent"], cwd=workdir, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"`npm pack {' '.join(specs)}` failed (exit {proc.returncode}); is the "
                           f"npm registry reachable?\n{proc.stderr.strip()[-2000:]}")  # fmt: skip


def install(dest: str | os.PathLike | None = None, *, tarballs: str | os.PathLike | None = None,
            force: bool = False, quiet: bool = False) -> Path:  # fmt: skip
    """Vendor require.js, d3 and jQuery into ``dest`` (default :func:`default_vendor_dir`).

    Args:
        dest: Target folder; created if needed.
        tarballs: Folder that already holds the npm tarballs (``d3-5.7.0.tgz``...); default:
            fetch them with ``npm pack`` into a temporary folder.
        force: Re-fetch even if ``dest`` already holds intact files.
        quiet: Print nothing.

    Returns:
        The vendor folder.

    Raises:
        RuntimeError: npm is missing or failed, or a tarball fails its sha512 integrity check.
    """
    dest = Path(dest) if dest is not None else default_vendor_dir()
    if not force and is_installed(dest, check_hashes=True):
        if not quiet:
            print(f"bertviz offline scripts already in {dest}")
        return dest
    with tempfile.TemporaryDirectory(prefix="dynmask-npm-") as tmp:
        source = Path(tarballs) if tarballs is not None else Path(tmp)
        if tarballs is None:
            _npm_pack(source)
        dest.mkdir(parents=True, exist_ok=True)
        for vf in VENDOR_FILES:
            name, version = vf.spec.rsplit("@", 1)
            tgz = source / f"{name}-{version}.tgz"
            if not tgz.is_file():
                raise RuntimeError(f"{tgz} is missing; {FIX_HINT} (with network access to npm).")
            got = _integrity(tgz)
            if got != vf.integrity:
                raise RuntimeError(f"{tgz.name} failed its integrity check: expected {vf.integrity}, "
                                   f"got {got}. Delete it and {FIX_HINT}.")  # fmt: skip
            with tarfile.open(tgz, "r:gz") as tar:
                data = tar.extractfile(tar.getmember(vf.member)).read()
            if hashlib.sha256(data).hexdigest() != vf.sha256:
                raise RuntimeError(f"{vf.member} in {tgz.name} has an unexpected sha256.")
            partial = dest / (vf.name + ".partial")
            partial.write_bytes(data)
            partial.replace(dest / vf.name)  # atomic: never a half-written script
    if not quiet:
        print(f"bertviz offline scripts installed in {dest}: "
              + ", ".join(vf.name for vf in VENDOR_FILES))  # fmt: skip
    return dest


# --- the views --------------------------------------------------------------------------------


def _as_hf_attentions(attention, tokens, batch_index: int):
    """Normalize to bertviz's input: a tuple of ``[1, heads, q, k]`` tensors, plus tokens."""
    import torch

    if hasattr(attention, "to_bertviz"):  # dynmask_viz.attention.AttentionResult (padding removed)
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
            raise ValueError(f"an attention tensor must be [layers, heads, q, k] (or pass HF's "
                             f"tuple of [batch, heads, q, k]); got shape {tuple(attention.shape)}.")  # fmt: skip
        layers = [a.unsqueeze(0) for a in attention]
    elif isinstance(attention, (tuple, list)) and len(attention) > 0:
        layers = []
        for a in attention:
            if not isinstance(a, torch.Tensor) or a.dim() != 4:
                raise ValueError("each layer must be a [batch, heads, q, k] tensor (Hugging Face "
                                 "`outputs.attentions`); did you load the model with eager "
                                 "attention and output_attentions=True?")  # fmt: skip
            layers.append(a[batch_index : batch_index + 1])
    else:
        raise ValueError("no attentions: got an empty value. Load the model with "
                         "attn_implementation='eager' (SDPA returns attentions=()).")  # fmt: skip
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
        raise ValueError("Unexpected bertviz HTML (this wrapper targets bertviz 1.4.x): "
                         "pin bertviz==1.4.1 (constraints.txt) or pass offline=False.")  # fmt: skip
    markup, script = bertviz_html.replace(_CDN_REQUIRE, "").split(_SCRIPT_OPEN, 1)
    script = script.rsplit("</script>", 1)[0]
    script, n = _REQUIRE_CONFIG.subn("", script, count=1)
    root = re.search(r'<div id="(bertviz-[0-9a-f]+)"', markup)
    if n != 1 or root is None:
        raise ValueError("Unexpected bertviz script (no require.config/root div): pin bertviz==1.4.1.")
    urls = [vendor_url] if vendor_url else None
    loader = _LOADER.replace("ROOT_ID", json.dumps(root.group(1))).replace(
        "FIXED_URLS", json.dumps(urls)).replace("REL_PATH", json.dumps(rel)).replace(
        "FIX_HINT", json.dumps(FIX_HINT)).replace("BERTVIZ_JS", script)  # fmt: skip
    return (f'<div class="dynmask-bertviz" data-mode="offline">{markup}</div>\n'
            f'<script type="text/javascript">\n{loader}\n</script>\n')  # fmt: skip


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
        raise FileNotFoundError(f"The offline bertviz scripts (require.js, d3, jQuery) are not "
                                f"installed ({default_vendor_dir()}): {FIX_HINT}, or pass offline=False "
                                "to load them from the CDN (needs internet in the browser).")  # fmt: skip
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


def head_view(attention, tokens=None, *, offline: bool | None = None, vendor_url: str | None = None,
              batch_index: int = 0, html_action: str = "view", **kwargs):  # fmt: skip
    """bertviz's head view, working offline (see the module docstring).

    Args:
        attention: Hugging Face ``outputs.attentions`` (tuple of ``[batch, heads, q, k]`` tensors),
            a ``[layers, heads, q, k]`` tensor, or the result of
            ``dynmask_viz.attention.extract_attention`` (padding removed), or any object with
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


def model_view(attention, tokens=None, *, offline: bool | None = None, vendor_url: str | None = None,
               batch_index: int = 0, html_action: str = "view", **kwargs):  # fmt: skip
    """bertviz's model view (all layers x heads), working offline; arguments as :func:`head_view`."""
    return _view("model_view", attention, tokens, offline, vendor_url, batch_index, html_action, kwargs)


def main(argv: list[str] | None = None) -> int:
    """CLI: ``install [--dest DIR] [--from DIR] [--force]`` | ``verify [--dest DIR]``."""
    parser = argparse.ArgumentParser(prog="python -m dynmask_viz.bertviz_offline",
                                     description=__doc__.split("\n")[0])  # fmt: skip
    parser.add_argument("command", choices=["install", "verify"])
    parser.add_argument("--dest", default=None, help="vendor folder (default: notebooks/_static/vendor)")
    parser.add_argument("--from", dest="tarballs", default=None, help="folder with the npm tarballs")
    parser.add_argument("--force", action="store_true", help="re-fetch even if intact")
    args = parser.parse_args(argv)
    dest = Path(args.dest) if args.dest else default_vendor_dir()
    try:
        if args.command == "install":
            install(dest, tarballs=args.tarballs, force=args.force)
            return 0
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    ok = is_installed(dest, check_hashes=True)
    print(f"{dest}: {'ok' if ok else 'missing or modified: ' + FIX_HINT}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
