"""Build step of the softmaxkit Python package: puts libsoftmaxkit.so inside it.

The package is ctypes + numpy: it holds no Python extension, but it ships the
native library it loads. Every way of building it goes through build_py below:

- ``pip install ./bindings/python`` from a checkout runs ``make lib`` in the
  repository root (a no-op when the library is up to date) and copies every
  ``libsoftmaxkit*.so`` of ``.build/release`` into the package;
- an sdist carries what that build needs (Package.swift, the Makefile, the
  Swift and C sources, the header) under ``_native/`` and builds the same way;
- ``SOFTMAXKIT_BUILD_LIBRARY=/path/to/libsoftmaxkit.so`` skips the build and
  copies that library (and every ``libsoftmaxkit*.so`` beside it) instead:
  ``make wheel`` passes the library it has just built.

``SOFTMAXKIT_MAKE_ARGS`` replaces the make arguments (default ``lib``), e.g.
``SOFTMAXKIT_MAKE_ARGS="lib CPU=x86-64"``.

The wheel is tagged py3-none-<platform>: any Python 3, one machine type.
"""
from __future__ import annotations

import glob
import os
import re
import shlex
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist
from setuptools.dist import Distribution

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1: the wheel package's command
    from wheel.bdist_wheel import bdist_wheel

HERE = os.path.dirname(os.path.abspath(__file__))
# What `make lib` needs (Package.swift names every target's folder, so the
# test and example targets' sources come too).
NATIVE_PATHS = ["Package.swift", "Makefile", "LICENSE", "softmaxkit.pc.in", "Sources", "include",
                "examples/swift", "Tests/SoftmaxKitTests", "Tests/smkTests"]
NATIVE_DIR = "_native"


def native_root() -> str:
    """The SoftmaxKit source tree: the checkout around this package, or the
    copy an sdist carries."""
    for root in (os.path.dirname(os.path.dirname(HERE)), os.path.join(HERE, NATIVE_DIR)):
        if os.path.isfile(os.path.join(root, "Package.swift")) and \
                os.path.isfile(os.path.join(root, "include", "softmaxkit.h")):
            return root
    raise SystemExit(
        f"softmaxkit: no SoftmaxKit sources around {HERE} (neither ../../Package.swift nor "
        f"{NATIVE_DIR}/Package.swift): build from a SoftmaxKit checkout or its sdist, or set "
        "SOFTMAXKIT_BUILD_LIBRARY=/path/to/libsoftmaxkit.so")


def version() -> str:
    """The package version is the library's (SMK_VERSION_STRING in the header)."""
    with open(os.path.join(native_root(), "include", "softmaxkit.h"), encoding="utf-8") as f:
        m = re.search(r'^#define SMK_VERSION_STRING "([^"]+)"', f.read(), re.M)
    if not m:
        raise SystemExit("softmaxkit: include/softmaxkit.h defines no SMK_VERSION_STRING")
    return m.group(1)


def built_library() -> str:
    """The path of libsoftmaxkit.so, building it first unless
    SOFTMAXKIT_BUILD_LIBRARY names one."""
    given = os.environ.get("SOFTMAXKIT_BUILD_LIBRARY")
    if given:
        if not os.path.isfile(given):
            raise SystemExit(f"softmaxkit: SOFTMAXKIT_BUILD_LIBRARY={given} is not a file")
        return os.path.abspath(given)
    root = native_root()
    if shutil.which("swift") is None:
        raise SystemExit(
            "softmaxkit: building the package builds libsoftmaxkit.so, which needs Swift 6 "
            "(`swift` is not on PATH). Install Swift (swift.org/install), or install a "
            "prebuilt wheel (`make wheel` on a machine with Swift), or set "
            "SOFTMAXKIT_BUILD_LIBRARY=/path/to/libsoftmaxkit.so.")
    make = shutil.which("make")
    if make is None:
        raise SystemExit("softmaxkit: building libsoftmaxkit.so needs `make` (apt-get install make)")
    args = shlex.split(os.environ.get("SOFTMAXKIT_MAKE_ARGS", "lib"))
    print(f"softmaxkit: building the library: make {' '.join(args)} in {root}", flush=True)
    subprocess.run([make, "-C", root, *args], check=True)
    where = subprocess.run([make, "-s", "--no-print-directory", "-C", root, "print-lib"],
                           check=True, capture_output=True, text=True).stdout.split()
    lib = where[-1] if where else os.path.join(root, ".build", "release", "libsoftmaxkit.so")
    if not os.path.isfile(lib):
        raise SystemExit(f"softmaxkit: make {' '.join(args)} did not produce {lib}")
    return lib


# The SwiftPM product `make lib` builds; libsoftmaxkit.so beside it is the same file.
SWIFTPM_PRODUCT = "libsoftmaxkit-c.so"


def libraries_to_pack(lib: str) -> list[str]:
    """`lib` and the libsoftmaxkit*.so beside it (the CPU variants of the
    dispatching library), without second names of one file: in
    ``.build/release`` libsoftmaxkit.so is a hard link to the SwiftPM
    product libsoftmaxkit-c.so, which the package must not carry twice."""
    found = [lib]
    for src in sorted(glob.glob(os.path.join(os.path.dirname(lib), "libsoftmaxkit*.so"))):
        if os.path.basename(src) == SWIFTPM_PRODUCT or any(os.path.samefile(src, f) for f in found):
            continue
        found.append(src)
    return found


class BuildPyWithLibrary(build_py):
    """build_py, then libsoftmaxkit.so (and any libsoftmaxkit*.so variants
    beside it) copied into the built package, stripped (symbols the dynamic
    linker does not need and debug information removed)."""

    def run(self) -> None:
        super().run()
        lib = built_library()
        dest = os.path.join(self.build_lib, "softmaxkit")
        os.makedirs(dest, exist_ok=True)
        for stale in glob.glob(os.path.join(dest, "libsoftmaxkit*.so")):
            os.remove(stale)
        strip = shutil.which("strip")
        for src in libraries_to_pack(lib):
            out = os.path.join(dest, os.path.basename(src))
            shutil.copyfile(src, out)
            os.chmod(out, 0o755)
            if strip:
                subprocess.run([strip, "--strip-unneeded", out], check=True)
            print(f"softmaxkit: packaged {src} ({os.path.getsize(out) / 1e6:.1f} MB)", flush=True)


class SdistWithSources(sdist):
    """An sdist that carries the library's sources under _native/."""

    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        root = native_root()
        for rel in NATIVE_PATHS:
            src, out = os.path.join(root, rel), os.path.join(base_dir, NATIVE_DIR, rel)
            if os.path.isdir(src):
                shutil.copytree(src, out, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            elif os.path.isfile(src):
                os.makedirs(os.path.dirname(out), exist_ok=True)
                shutil.copy2(src, out)


class NativeDistribution(Distribution):
    """Not pure Python: the package holds a native library, so the wheel is
    platform-specific and installs it in platlib (auditwheel requires it)."""

    def has_ext_modules(self) -> bool:
        return True


class PlatformWheel(bdist_wheel):
    """py3-none-<platform>: the wheel holds a native library but no CPython
    extension, so it fits every Python 3 on its machine type."""

    def get_tag(self) -> tuple[str, str, str]:
        _, _, plat = super().get_tag()
        return "py3", "none", plat


setup(
    version=version(),
    distclass=NativeDistribution,
    cmdclass={"build_py": BuildPyWithLibrary, "sdist": SdistWithSources, "bdist_wheel": PlatformWheel},
)
