"""bertviz offline: vendoring (integrity-checked) and the HTML rewrite of head/model views.

The real-browser check (the view renders an SVG in JupyterLab, no "require is not defined") is
in tests/test_browser_lab.py.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import tarfile
from types import SimpleNamespace

import pytest
import torch

from dynmask_viz.assets import bertviz_js
from dynmask_viz.widgets import bertviz as bo

TOKENS = ["[CLS]", "the", "cat", "sat", "[SEP]"]


def _attn(layers=2, batch=1, heads=3, n=5, seed=0):  # n = len(TOKENS)
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.rand(batch, heads, n, n, generator=g).softmax(-1) for _ in range(layers))


@pytest.fixture
def vendored(tmp_path, monkeypatch):
    """A vendor dir with placeholder scripts, found through the env var."""
    folder = tmp_path / "vendor"
    folder.mkdir()
    for vf in bertviz_js.VENDOR_FILES:
        (folder / vf.name).write_text("// placeholder\n")
    monkeypatch.setenv("DYNMASK_VIZ_VENDOR_DIR", str(folder))
    return folder


@pytest.fixture
def not_vendored(tmp_path, monkeypatch):
    monkeypatch.setenv("DYNMASK_VIZ_VENDOR_DIR", str(tmp_path / "nothing"))
    monkeypatch.delenv("DYNMASK_VIZ_VENDOR_URL", raising=False)


@pytest.mark.parametrize("view", [bo.head_view, bo.model_view])
def test_offline_html_has_no_cdn_and_a_loader(view, vendored):
    html = view(_attn(), TOKENS, offline=True, html_action="return").data
    assert "cdnjs" not in html and "ajax/libs" not in html and 'src="http' not in html
    assert "require.config({paths: paths})" in html  # ours, not bertviz's CDN config
    assert html.count("require.config(") == 1
    assert 'data-mode="offline"' in html and "bertviz-" in html
    assert "make assets" in html  # the in-browser message if the scripts cannot be loaded
    assert "files/notebooks/" in html and "'require.js'" in html
    assert '"the"' in html and '"sat"' in html  # bertviz's params made it into the script


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.parametrize("view", [bo.head_view, bo.model_view])
def test_offline_script_is_valid_javascript(view, vendored, tmp_path):
    html = view(_attn(), TOKENS, offline=True, html_action="return").data
    script = html.split('<script type="text/javascript">', 1)[1].rsplit("</script>", 1)[0]
    path = tmp_path / "loader.js"
    path.write_text(script)
    proc = subprocess.run(["node", "--check", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_vendor_url_overrides_candidates(vendored):
    html = bo.head_view(_attn(), TOKENS, vendor_url="/static/v/", html_action="return").data
    assert '["/static/v/"]' in html


def test_auto_mode_follows_the_vendor_dir(vendored, monkeypatch, tmp_path):
    assert 'data-mode="offline"' in bo.head_view(_attn(), TOKENS, html_action="return").data
    monkeypatch.setenv("DYNMASK_VIZ_VENDOR_DIR", str(tmp_path / "missing"))
    online = bo.head_view(_attn(), TOKENS, html_action="return").data
    assert "cdnjs.cloudflare.com" in online and 'data-mode="offline"' not in online


def test_offline_requested_but_missing_says_how_to_fix(not_vendored):
    with pytest.raises(FileNotFoundError, match="make assets"):
        bo.head_view(_attn(), TOKENS, offline=True, html_action="return")


def test_accepts_tensor_and_duck_typed_result(vendored):
    stacked = torch.cat(_attn(layers=2), dim=0)  # [layers, heads, q, k]
    a = bo.head_view(stacked, TOKENS, html_action="return").data
    result = SimpleNamespace(tokens=TOKENS, attentions=stacked)
    b = bo.head_view(result, html_action="return").data
    strip = lambda h: h.split("rootDivId")[0].split("params = ")[-1][:2000]
    assert strip(a) == strip(b)
    assert bo.model_view(result, html_action="return") is not None


def test_accepts_extract_attention_result(vendored):
    pytest.importorskip("dynmask_viz.hf")
    from dynmask_viz.assets import is_cached
    from dynmask_viz.attention_masks import causal
    from dynmask_viz.hf import extract_attention, load_model, load_tokenizer

    if not is_cached("minilm"):
        pytest.skip("the offline default model is not cached: run `make assets`")
    result = extract_attention(load_model(), load_tokenizer(), ["a cat", "the cat sat down"], causal())
    html = bo.head_view(result, batch_index=0, html_action="return").data
    assert '"left_text": ["[CLS]", "a", "cat", "[SEP]"]' in html  # example 0, padding removed
    batched = SimpleNamespace(tokens=result.tokens, attentions=result.attentions)  # [B, layers, ...]
    html = bo.model_view(batched, batch_index=1, html_action="return").data
    assert '"[CLS]", "the", "cat", "sat", "down", "[SEP]"' in html


def test_batch_index_selects_the_sequence(vendored):
    attn = _attn(batch=2)
    a = bo.head_view(attn, TOKENS, batch_index=1, html_action="return").data
    b = bo.head_view(tuple(x[1:2] for x in attn), TOKENS, html_action="return").data
    params = lambda h: h.split("const params = ", 1)[1].split(";", 1)[0]
    assert params(a).split('"root_div_id"')[0] == params(b).split('"root_div_id"')[0]


@pytest.mark.parametrize(
    "attention, tokens, match",
    [
        (_attn(), TOKENS[:3], "3 tokens for 5"),
        ((), TOKENS, "eager"),
        ((torch.rand(3, 5, 5),), TOKENS, "batch, heads, q, k"),
        (torch.rand(5, 5), TOKENS, "shape"),
        (torch.rand(2, 1, 3, 5, 5), TOKENS, "shape"),
        (_attn(), None, "tokens are required"),
    ],
)
def test_bad_inputs_raise_clear_errors(attention, tokens, match, vendored):
    with pytest.raises(ValueError, match=match):
        bo.head_view(attention, tokens, html_action="return")


def test_unknown_bertviz_html_is_rejected():
    with pytest.raises(ValueError, match="bertviz==1.4.1"):
        bo.offline_html("<div>not bertviz</div>")


# --- vendoring ---------------------------------------------------------------------------------


def _fake_tarball(folder, spec, member, content: bytes):
    name, version = spec.rsplit("@", 1)
    path = folder / f"{name}-{version}.tgz"
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(member)
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    return path


def test_install_extracts_verified_files_and_rejects_tampered_ones(tmp_path, monkeypatch):
    src = tmp_path / "tgz"
    src.mkdir()
    tgz = _fake_tarball(src, "fake@1.0.0", "package/fake.min.js", b"var fake = 1;\n")
    pin = bertviz_js.VendorFile(
        "fake.min.js",
        "fake@1.0.0",
        "package/fake.min.js",
        bertviz_js._integrity(tgz),
        hashlib.sha256(b"var fake = 1;\n").hexdigest(),
    )
    monkeypatch.setattr(bertviz_js, "VENDOR_FILES", (pin,))
    dest = bertviz_js.install(tmp_path / "vendor", tarballs=src, quiet=True)
    assert (dest / "fake.min.js").read_bytes() == b"var fake = 1;\n"
    assert bertviz_js.is_installed(dest, check_hashes=True)
    (dest / "fake.min.js").write_text("tampered")
    assert bertviz_js.is_installed(dest) and not bertviz_js.is_installed(dest, check_hashes=True)

    _fake_tarball(src, "fake@1.0.0", "package/fake.min.js", b"var evil = 1;\n")
    with pytest.raises(RuntimeError, match="integrity check"):
        bertviz_js.install(dest, tarballs=src, quiet=True)
    assert (dest / "fake.min.js").read_text() == "tampered"  # nothing half-replaced


def test_pins_cover_what_bertviz_needs():
    names = {vf.spec.split("@")[0]: vf for vf in bertviz_js.VENDOR_FILES}
    assert set(names) == {"requirejs", "d3", "jquery"}
    assert names["d3"].spec == "d3@5.7.0"  # the version bertviz's JS asks the CDN for
    assert all(vf.integrity.startswith("sha512-") and len(vf.sha256) == 64 for vf in bertviz_js.VENDOR_FILES)


def test_repo_vendor_dir_is_intact_when_installed():
    folder = bertviz_js.default_vendor_dir()
    if not bertviz_js.is_installed(folder):
        pytest.skip(f"not installed ({folder}): {bertviz_js.FIX_HINT}")
    assert bertviz_js.is_installed(folder, check_hashes=True), (
        f"{folder} was modified: {bertviz_js.FIX_HINT} --force"
    )


def test_cli_verify_reports_missing(tmp_path, capsys):
    assert bertviz_js.main(["verify", "--dest", str(tmp_path)]) == 1
    assert "make assets" in capsys.readouterr().out
