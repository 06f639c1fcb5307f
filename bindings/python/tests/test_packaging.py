"""Where the package finds libsoftmaxkit.so, and what it says when it cannot.

Each case runs a copy of the package in a fresh interpreter laid out as an
installed package (site-packages/softmaxkit, no checkout around it), so the
lookup of softmaxkit._lib is what a user of a wheel or of
``pip install ./bindings/python`` gets. The library itself is this checkout's
(softmaxkit.library_path). The build step that puts it there is setup.py's;
CI installs the wheel and the source package in new virtual environments.
"""
from __future__ import annotations

import ctypes.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import softmaxkit

PACKAGE = Path(softmaxkit.__file__).resolve().parent


def _installed_copy(tmp_path: Path, with_library: bool) -> Path:
    site = tmp_path / "site-packages"
    shutil.copytree(PACKAGE, site / "softmaxkit",
                    ignore=shutil.ignore_patterns("__pycache__", "libsoftmaxkit*.so"))
    if with_library:
        shutil.copyfile(softmaxkit.library_path, site / "softmaxkit" / "libsoftmaxkit.so")
    return site


def _import(site: Path, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items()
               if k not in ("SOFTMAXKIT_LIBRARY", "PYTHONPATH", "LD_LIBRARY_PATH")}
    environ.update(PYTHONPATH=str(site), **env)
    return subprocess.run(
        [sys.executable, "-c", "import softmaxkit; print(softmaxkit.library_path)"],
        cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=120)


def test_installed_package_loads_its_own_library(tmp_path):
    site = _installed_copy(tmp_path, with_library=True)
    r = _import(site, tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(site / "softmaxkit" / "libsoftmaxkit.so")


@pytest.mark.skipif(ctypes.util.find_library("softmaxkit") is not None,
                    reason="a libsoftmaxkit is installed system-wide: the package would load it")
def test_installed_package_without_library_says_what_to_do(tmp_path):
    site = _installed_copy(tmp_path, with_library=False)
    r = _import(site, tmp_path)
    assert r.returncode != 0
    err = r.stderr
    # Names the real place it looked, and no checkout path outside a checkout.
    assert f"{site / 'softmaxkit' / 'libsoftmaxkit.so'} (inside the installed package): not found" in err
    assert ".build" not in err
    assert "make lib" not in err
    assert "pip install" in err and "make wheel" in err and "SOFTMAXKIT_LIBRARY" in err


def test_library_variable_is_the_only_candidate_when_set(tmp_path):
    site = _installed_copy(tmp_path, with_library=True)
    missing = tmp_path / "nowhere" / "libsoftmaxkit.so"
    r = _import(site, tmp_path, SOFTMAXKIT_LIBRARY=str(missing))
    assert r.returncode != 0, "fell back to another library despite SOFTMAXKIT_LIBRARY"
    assert f"{missing} (SOFTMAXKIT_LIBRARY): not found" in r.stderr
    assert "SOFTMAXKIT_LIBRARY is set" in r.stderr
    r = _import(site, tmp_path, SOFTMAXKIT_LIBRARY=softmaxkit.library_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == softmaxkit.library_path


def test_checkout_candidates_and_advice():
    from softmaxkit import _lib
    root = PACKAGE.parents[2]
    if not (root / "Package.swift").is_file():
        pytest.skip("not running from a SoftmaxKit checkout")
    saved = os.environ.pop("SOFTMAXKIT_LIBRARY", None)
    try:
        paths = [str(p) for p, _ in _lib._candidates(PACKAGE)]
        assert paths[:2] == [str(PACKAGE / "libsoftmaxkit.so"), str(root / ".build" / "release" / "libsoftmaxkit.so")]
        assert f"run `make lib` in {root}" in _lib._advice(PACKAGE)
    finally:
        if saved is not None:
            os.environ["SOFTMAXKIT_LIBRARY"] = saved


def _setup_namespace(monkeypatch) -> dict:
    """bindings/python/setup.py's functions, without running setup()."""
    import runpy
    import setuptools
    setup_py = PACKAGE.parent / "setup.py"
    if not setup_py.is_file() or not (PACKAGE.parents[2] / "include" / "softmaxkit.h").is_file():
        pytest.skip("not running from a SoftmaxKit checkout")
    monkeypatch.setattr(setuptools, "setup", lambda **kw: None)
    try:
        from setuptools.command.bdist_wheel import bdist_wheel  # noqa: F401
    except ImportError:  # an older setuptools without the wheel package: a stand-in command
        import types
        stub = types.ModuleType("setuptools.command.bdist_wheel")
        stub.bdist_wheel = type("bdist_wheel", (), {})
        monkeypatch.setitem(sys.modules, "setuptools.command.bdist_wheel", stub)
    return runpy.run_path(str(setup_py), run_name="softmaxkit_setup")


def test_build_step_packs_each_library_file_once(tmp_path, monkeypatch):
    pack = _setup_namespace(monkeypatch)["libraries_to_pack"]
    # A `make lib` folder: the SwiftPM product and its hard link libsoftmaxkit.so.
    release = tmp_path / "release"
    release.mkdir()
    (release / "libsoftmaxkit-c.so").write_bytes(b"lib")
    os.link(release / "libsoftmaxkit-c.so", release / "libsoftmaxkit.so")
    assert pack(str(release / "libsoftmaxkit.so")) == [str(release / "libsoftmaxkit.so")]
    # A `make dist-lib` folder: the dispatcher and its CPU variants, all packed.
    dist = tmp_path / "dist"
    dist.mkdir()
    for name in ("libsoftmaxkit.so", "libsoftmaxkit-avx2.so", "libsoftmaxkit-avx512.so", "libsoftmaxkit-sse2.so"):
        (dist / name).write_bytes(name.encode())
    assert pack(str(dist / "libsoftmaxkit.so")) == [str(dist / n) for n in (
        "libsoftmaxkit.so", "libsoftmaxkit-avx2.so", "libsoftmaxkit-avx512.so", "libsoftmaxkit-sse2.so")]
