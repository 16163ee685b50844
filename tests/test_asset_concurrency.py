"""Concurrent fetches of one asset, in real processes, over a stale, partial or damaged copy.

Every process must succeed, the copy left in place must verify, and no process may delete a
copy that another one has put in place (each worker drops ``in-use-<i>`` into the folder it
got; all of them must still be there, in the one folder that every worker was given).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _asset_helpers import fake_asset, leftovers, spec_to_json

from dynmask_viz.assets import integrity, store

N_WORKERS = 4
TESTS_DIR = Path(__file__).parent
_WORKER = "import sys, _asset_helpers as h; h.fetch_worker(sys.argv[1:])"


@pytest.fixture
def fake(monkeypatch, tmp_path):
    return fake_asset(monkeypatch, tmp_path)


def _many_files(folder: Path) -> None:
    # Enough files that two deletions of the old folder overlap in time.
    (folder / "sub").mkdir(parents=True)
    for i in range(300):
        (folder / "sub" / f"part-{i}.bin").write_bytes(b"x" * 64)


def _stale(folder: Path) -> None:
    """A complete copy, but fetched for other pins (the registry changed since)."""
    _many_files(folder)
    (folder / "a.txt").write_bytes(b"old pin\n")
    (folder / integrity.MARKER).write_text(json.dumps({"wheel": "old.whl"}))


def _partial(folder: Path) -> None:
    """An interrupted fetch: some files, no completion marker."""
    _many_files(folder)


def _damaged(folder: Path) -> None:
    """A complete copy whose file was changed afterwards (only a re-hash notices)."""
    store.fetch_asset("fake", progress=False)
    (folder / "a.txt").write_bytes(b"tampered\n")


@pytest.mark.timeout(180)
@pytest.mark.parametrize(
    ("make_old_copy", "verify"),
    [(_stale, False), (_partial, False), (_damaged, True)],
    ids=["stale", "partial", "damaged-verify"],
)
def test_concurrent_fetches_all_succeed_and_keep_one_copy(fake, tmp_path, make_old_copy, verify):
    spec, _, root = fake
    folder = root / "fake"
    make_old_copy(folder)
    ready = tmp_path / "ready"
    ready.mkdir()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]))
    verify_flag, delay_s = ("1" if verify else "0"), "0.3"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, spec_to_json(spec), str(ready), str(i)]
            + [str(N_WORKERS), verify_flag, delay_s],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(N_WORKERS)
    ]
    results = [(p, *p.communicate(timeout=150)) for p in procs]
    failures = [
        f"worker {i} (exit {p.returncode}):\n{err[-1500:]}"
        for i, (p, _, err) in enumerate(results)
        if p.returncode
    ]
    assert not failures, "\n".join(failures)
    assert store.verify_asset("fake") == []
    inodes = {json.loads(out.strip().splitlines()[-1])["ino"] for _, out, _ in results}
    assert inodes == {os.stat(folder).st_ino}, "a worker was given a copy that was later replaced"
    in_use = sorted(p.name for p in folder.glob("in-use-*"))
    assert in_use == [f"in-use-{i}" for i in range(N_WORKERS)], "a copy in use was deleted"
    assert leftovers(root) == ["fake"]  # no temporary or old folders left behind
