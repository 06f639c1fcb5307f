"""softmaxkit.cpu(): the CPU path the loaded kernels run, and the dispatching
library's refusals (a level the CPU lacks or an unknown SOFTMAXKIT_CPU value
raises on every call, never crashes)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import softmaxkit

LEVELS = ("avx512", "avx2", "sse2")


def dispatching() -> bool:
    """The loaded library is the dispatching one (its variants beside it)."""
    return (Path(softmaxkit.library_path).resolve().parent / "libsoftmaxkit-sse2.so").exists()


def test_cpu_names_a_known_path():
    assert softmaxkit.cpu() in LEVELS + ("generic",)
    assert softmaxkit.cpu() == softmaxkit.cpu()


def test_cpu_follows_softmaxkit_cpu_in_the_dispatching_library():
    want = os.environ.get("SOFTMAXKIT_CPU")
    if not dispatching() or want not in LEVELS:
        pytest.skip("needs the dispatching library and SOFTMAXKIT_CPU=sse2|avx2|avx512")
    assert softmaxkit.cpu() == want


def run_with(env_cpu: str) -> subprocess.CompletedProcess:
    code = (
        "import numpy as np, softmaxkit\n"
        "print(softmaxkit.cpu())\n"
        "try:\n"
        "    softmaxkit.softmax(np.ones(4, np.float32))\n"
        "except softmaxkit.Error as e:\n"
        "    print(type(e).__name__, e)\n"
    )
    env = dict(os.environ, SOFTMAXKIT_CPU=env_cpu, SOFTMAXKIT_LIBRARY=str(Path(softmaxkit.library_path).resolve()),
               PYTHONPATH=str(Path(softmaxkit.__file__).resolve().parents[1]))
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def test_unknown_softmaxkit_cpu_is_refused_with_a_message():
    if not dispatching():
        pytest.skip("needs the dispatching library (make dist-lib)")
    r = run_with("avx3")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "none"
    assert "SOFTMAXKIT_CPU=avx3 is not a CPU level" in lines[1]
    assert "SMK_ERROR_UNSUPPORTED" in lines[1]


def test_each_level_this_cpu_has_runs():
    if not dispatching():
        pytest.skip("needs the dispatching library (make dist-lib)")
    flags = Path("/proc/cpuinfo").read_text().split() if Path("/proc/cpuinfo").exists() else []
    have = {"sse2": True,
            "avx2": all(f in flags for f in ("avx2", "fma", "bmi1", "bmi2", "f16c", "movbe")),
            "avx512": all(f in flags for f in ("avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"))}
    for level in LEVELS:
        r = run_with(level)
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        if have[level]:
            assert lines == [level], r.stdout
        else:
            assert lines[0] == "none" and "cannot run" in lines[1], r.stdout
