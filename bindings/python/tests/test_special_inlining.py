"""The weighted logsumexp behind ``softmaxkit.special.logsumexp(a, b=...)``
computes its exponentials inline.

Its loops once called an out-of-line copy of the vector exponential for every
vector (the optimizer stops inlining into a function it judges too large, and
each inlined exponential is large), which made a call with weights several
times slower than the unweighted kernel. No result changes, so only the
machine code shows it: this reads the disassembly of the library under test
and fails when any function of the weighted kernel calls the vector
exponential (the scalar libm calls of its rare non-finite path are fine).

Skipped when the library has no symbol table (the stripped libraries of
``make dist-lib`` and the wheel) or binutils is missing.
"""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest

import softmaxkit

KERNEL = re.compile(r"WeightedLogSumExp|^smk_logsumexp_weighted_f(32|64)$")
CALL = re.compile(r"\bcall[a-z]*\s+[0-9a-f]+\s+<([^>]+)>")


def _kernel_functions(path: str) -> list[tuple[int, int, str]]:
    """(address, size, name) of the weighted kernel's functions in `path`."""
    nm = subprocess.run(["nm", "-S", "--defined-only", path], capture_output=True, text=True, check=True).stdout
    found = []
    for line in nm.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tTwW" and KERNEL.search(parts[3]) and int(parts[1], 16) > 0:
            found.append((int(parts[0], 16), int(parts[1], 16), parts[3]))
    return found


def test_weighted_logsumexp_calls_no_exponential():
    if shutil.which("nm") is None or shutil.which("objdump") is None:
        pytest.skip("needs nm and objdump (binutils)")
    path = softmaxkit.library_path
    functions = _kernel_functions(path)
    if not functions:
        pytest.skip(f"{path} has no symbol table for the kernel (a stripped library)")
    calls = []
    for start, size, name in functions:
        dis = subprocess.run(["objdump", "-d", "--no-show-raw-insn", f"--start-address={start:#x}",
                              f"--stop-address={start + size:#x}", path],
                             capture_output=True, text=True, check=True).stdout
        calls += [(name, target) for target in CALL.findall(dis) if "vexp" in target]
    assert not calls, "the weighted logsumexp calls an out-of-line exponential:\n" + "\n".join(
        f"  {name} -> {target}" for name, target in calls)
