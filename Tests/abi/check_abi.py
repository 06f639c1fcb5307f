#!/usr/bin/env python3
"""The C ABI promise, checked one for one:

  1. every prototype in include/softmaxkit.h is exported by the library, and the
     library exports nothing else (only smk_* symbols, no Swift runtime);
  2. the Swift compiler's own prototypes of the @_cdecl exports
     (`swiftc -emit-clang-header-path`) match the header's, parameter by parameter;
  3. the Python binding declares exactly the header's functions, in header order,
     with matching ctypes argument and return types;
  4. status codes, version numbers and the status table agree everywhere.

Prints "N passed, N failed" and exits non-zero on any disagreement.
"""
from __future__ import annotations

import argparse
import ctypes
import glob
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
passed = 0
failed = 0


def check(ok: bool, what: str) -> None:
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print(f"FAIL: {what}")


# ---------------------------------------------------------------- parsing C

def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def header_types(text: str) -> tuple[set[str], set[str]]:
    """(enum typedef names, opaque/struct typedef names) declared in the header."""
    enums = set(re.findall(r"typedef\s+enum\s+\w*\s*\{[^}]*\}\s*(\w+)\s*;", text))
    structs = set(re.findall(r"typedef\s+struct\s+\w+\s*(?:\{[^}]*\})?\s*(\w+)\s*;", text))
    return enums, structs


def parse_prototypes(text: str, prefix_macro: str) -> dict[str, tuple[str, list[str]]]:
    """name -> (return type, [parameter types]) for `PREFIX ret name(params)`."""
    protos = {}
    pattern = re.compile(prefix_macro + r"\s+([^;(]*?)\b(smk_\w+)\s*\(([^)]*)\)", re.S)
    for ret, name, params in pattern.findall(text):
        params = " ".join(params.split())
        plist = [] if params in ("", "void") else [p.strip() for p in params.split(",")]
        protos[name] = (" ".join(ret.split()), plist)
    return protos


PRIMITIVES = {"float", "double", "char", "int8_t", "uint8_t", "int16_t", "uint16_t", "int32_t",
              "uint32_t", "int64_t", "uint64_t", "size_t", "int", "unsigned", "bool", "_Bool"}


# The 16-bit storage structs of the header, passed by pointer: one uint16_t each.
HALF_TYPES = {"smk_f16", "smk_bf16"}


def normalize(ctype: str, enums: set[str], structs: set[str], param: bool) -> str:
    """A canonical spelling: 'const float*', 'int32_t', 'opaque**', ..."""
    t = re.sub(r"\b(_Nullable|_Nonnull|_Null_unspecified|SWIFT_NOEXCEPT|SWIFT_WARN_UNUSED_RESULT|struct|enum)\b", " ", ctype)
    t = t.replace("*", " * ")
    toks = t.split()
    if param and toks and re.match(r"^[A-Za-z_]\w*$", toks[-1]) and len(toks) > 1 and toks[-1] not in PRIMITIVES \
            and toks[-1] not in enums and toks[-1] not in structs and toks[-1] not in ("const", "void"):
        toks = toks[:-1]  # drop the parameter name
    depth = toks.count("*")
    # const applying to the pointee (before the first '*')
    first_star = toks.index("*") if "*" in toks else len(toks)
    const = "const" in toks[:first_star]
    base = [x for x in toks[:first_star] if x != "const"]
    b = " ".join(base)
    if b in HALF_TYPES:
        b = "uint16_t"  # the half-precision structs: the Swift side spells their storage
    if b in enums:
        b = "int32_t"
    if b == "unsigned int":
        b = "uint32_t"
    if b == "int":
        b = "int32_t"
    if depth and (b in structs or b == "void" or b.startswith("smk_")):
        return "opaque" + "*" * depth   # opaque handles and void* carry no pointee type
    if b == "OpaquePointer":
        return "opaque" + "*" * depth
    return ("const " if const and depth else "") + b + "*" * depth


# ---------------------------------------------------------------- the checks

def check_exports(lib: str, header: dict) -> None:
    out = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True, text=True, check=True).stdout
    globals_ = set()
    listed = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3:
            listed.add(parts[2])
            if parts[1].isupper():  # global binding: T, D, B, R, W, ...
                globals_.add(parts[2])
    extra = sorted(s for s in listed if not s.startswith("smk_"))
    check(not extra, f"nm -D lists non-smk_ symbols (global or local): {extra[:10]}")
    check(set(header) <= globals_, f"declared in header but not exported: {sorted(set(header) - globals_)}")
    check(globals_ <= set(header), f"exported but not in header: {sorted(globals_ - set(header))}")


def swift_prototypes(build_dir: str) -> str:
    modules = os.path.join(build_dir, "Modules")
    simd = os.path.join(ROOT, "Sources", "SoftmaxKitSIMD", "include")  # the core's C module
    sources = sorted(glob.glob(os.path.join(ROOT, "Sources", "SoftmaxKitABI", "*.swift")))
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "abi.h")
        subprocess.run(["swiftc", "-typecheck", "-parse-as-library", "-module-name", "SoftmaxKitABI",
                        "-I", modules, "-I", simd, *sources, "-emit-clang-header-path", out], check=True)
        with open(out) as f:
            return f.read()


def check_swift(header: dict, enums: set[str], structs: set[str], build_dir: str) -> None:
    text = swift_prototypes(build_dir)
    swift = parse_prototypes(text, "SWIFT_EXTERN")
    check(set(swift) == set(header),
          f"Swift @_cdecl set differs from header: only Swift {sorted(set(swift) - set(header))}, "
          f"only header {sorted(set(header) - set(swift))}")
    for name in sorted(set(swift) & set(header)):
        hr, hp = header[name]
        sr, spr = swift[name]
        check(normalize(hr, enums, structs, False) == normalize(sr, enums, structs, False),
              f"{name}: return type header '{hr}' vs Swift '{sr}'")
        check(len(hp) == len(spr), f"{name}: {len(hp)} parameters in header, {len(spr)} in Swift")
        for i, (a, b) in enumerate(zip(hp, spr)):
            check(normalize(a, enums, structs, True) == normalize(b, enums, structs, True),
                  f"{name} parameter {i}: header '{a}' vs Swift '{b}'")


def ctypes_name(t) -> str:
    """Canonical spelling of a ctypes type, comparable with normalize()."""
    c = ctypes
    # c_size_t is c_uint64 on LP64 platforms (the same class): the header
    # spells 64-bit counts uint64_t, so that spelling wins.
    simple = {c.c_size_t: "size_t", c.c_float: "float", c.c_double: "double", c.c_int32: "int32_t",
              c.c_uint32: "uint32_t", c.c_int64: "int64_t", c.c_uint64: "uint64_t", c.c_uint8: "uint8_t",
              c.c_int8: "int8_t", c.c_bool: "bool", c.c_char_p: "const char*"}
    if t in simple:
        return simple[t]
    if t is c.c_void_p:
        return "pointer"
    if isinstance(t, type) and issubclass(t, c._Pointer):
        return "pointer"
    return getattr(t, "__name__", repr(t))


def check_python(header_order: list[str], header: dict, enums: set[str], structs: set[str]) -> None:
    sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))
    from softmaxkit import _lib  # noqa: E402

    names = [d[0] for d in _lib.DECLARATIONS]
    check(len(names) == len(set(names)), "Python declares a function twice")
    check(names == header_order,
          f"Python declarations differ from the header (order matters): "
          f"only Python {sorted(set(names) - set(header_order))}, only header {sorted(set(header_order) - set(names))}"
          + ("" if set(names) != set(header_order) else ", same set in another order"))
    for name, restype, argtypes in _lib.DECLARATIONS:
        if name not in header:
            continue
        hr, hp = header[name]
        check(len(argtypes) == len(hp), f"{name}: {len(hp)} parameters in header, {len(argtypes)} in Python")
        for i, (a, p) in enumerate(zip(argtypes, hp)):
            want = normalize(p, enums, structs, True)
            got = ctypes_name(a)
            ok = got == want or (got == "pointer" and "*" in want) or (got == "const char*" and want == "const char*")
            check(ok, f"{name} parameter {i}: header '{p}' ({want}) vs Python {got}")
        want_ret = normalize(hr, enums, structs, False)
        got_ret = "void" if restype is None else ctypes_name(restype)
        if restype is ctypes.c_int:
            got_ret = "int32_t"
        ok = got_ret == want_ret or (got_ret == "pointer" and "*" in want_ret)
        check(ok, f"{name}: return type header '{hr}' ({want_ret}) vs Python {got_ret}")


def check_constants(text: str, lib_path: str) -> None:
    sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))
    import softmaxkit
    from softmaxkit import _errors

    enum_body = re.search(r"typedef\s+enum\s+smk_status\s*\{([^}]*)\}", text, re.S).group(1)
    header_status = {int(v): k for k, v in re.findall(r"(SMK_\w+)\s*=\s*(\d+)", enum_body)}
    python_status = {k: v[0] for k, v in _errors.STATUS.items()}
    check(header_status == python_status, f"status codes: header {header_status} vs Python {python_status}")
    lib = ctypes.CDLL(lib_path)
    lib.smk_status_string.restype = ctypes.c_char_p
    lib.smk_status_string.argtypes = [ctypes.c_int]
    for code, name in header_status.items():
        s = lib.smk_status_string(code).decode()
        check(s.split(":")[0] == name, f"smk_status_string({code}) = '{s}', expected it to start with {name}")

    macros = dict(re.findall(r"#define\s+(SMK_VERSION_(?:MAJOR|MINOR|PATCH))\s+(\d+)", text))
    major, minor, patch = (int(macros[f"SMK_VERSION_{k}"]) for k in ("MAJOR", "MINOR", "PATCH"))
    string = re.search(r'#define\s+SMK_VERSION_STRING\s+"([^"]+)"', text).group(1)
    check(string == f"{major}.{minor}.{patch}", f"SMK_VERSION_STRING {string} vs macros {major}.{minor}.{patch}")
    lib.smk_version.restype = ctypes.c_uint32
    check(lib.smk_version() == major * 10000 + minor * 100 + patch, "smk_version() differs from the header macros")
    check(softmaxkit.__version__ == string, f"Python __version__ {softmaxkit.__version__} vs header {string}")
    check(softmaxkit._lib.ABI_MAJOR == major, "Python ABI_MAJOR differs from SMK_VERSION_MAJOR")
    # The Python package's version is the header's: pyproject.toml leaves it
    # dynamic and setup.py reads SMK_VERSION_STRING (or it is written out).
    with open(os.path.join(ROOT, "bindings", "python", "pyproject.toml")) as f:
        pyproject = f.read()
    with open(os.path.join(ROOT, "bindings", "python", "setup.py")) as f:
        from_header = 'dynamic = ["version"]' in pyproject and "#define SMK_VERSION_STRING" in f.read()
    check(f'version = "{string}"' in pyproject or from_header, "pyproject.toml version differs from the header")
    with open(os.path.join(ROOT, "Sources", "SoftmaxKit", "Core", "Version.swift")) as f:
        sw = f.read()
    sv = tuple(int(re.search(rf"static let {k} = (\d+)", sw).group(1)) for k in ("major", "minor", "patch"))
    check(sv == (major, minor, patch), f"Version.swift {sv} vs header {(major, minor, patch)}")
    with open(os.path.join(ROOT, "Sources", "SoftmaxKitABI", "VersionExports.swift")) as f:
        check(f'"{string}"' in f.read(), "VersionExports.swift version string differs from the header")
    with open(os.path.join(ROOT, "Sources", "SoftmaxKit", "Core", "Errors.swift")) as f:
        swift_kinds = {int(v) for v in re.findall(r"case \S+ = (\d+)", f.read())}
    check(swift_kinds | {0} == set(header_status), f"Swift error kinds {sorted(swift_kinds)} vs header statuses")


def check_option_structs(lib_path: str) -> None:
    """Each options struct's init writes `size` equal to the Python binding's
    sizeof: the struct layouts agree (fields are read by offset in Swift)."""
    sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))
    from softmaxkit import _lib
    lib = ctypes.CDLL(lib_path)
    for init, cls in (("smk_loss_options_init", _lib.LossOptions), ("smk_sample_options_init", _lib.SampleOptions)):
        buf = ctypes.create_string_buffer(256)
        getattr(lib, init)(buf)
        size = ctypes.c_uint64.from_buffer(buf).value
        check(size == ctypes.sizeof(cls), f"{init} writes size {size}, Python's {cls.__name__} is {ctypes.sizeof(cls)}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--library", required=True)
    ap.add_argument("--header", required=True)
    ap.add_argument("--build-dir", help="the SwiftPM build folder whose Modules the Swift check reads "
                    "(default: the library's folder; the dispatching library has none of its own)")
    args = ap.parse_args()
    with open(args.header) as f:
        raw = f.read()
    text = strip_comments(raw)
    enums, structs = header_types(text)
    header = parse_prototypes(text, "SMK_API")
    order = [m.group(1) for m in re.finditer(r"SMK_API\s+[^;(]*?\b(smk_\w+)\s*\(", text)]
    check(len(header) > 0, "no prototypes found in the header")
    # Every prototype carries a doc comment right above it.
    for name in header:
        m = re.search(r"(/\*(?:(?!\*/).)*\*/)\s*SMK_API\s+[^;(]*?\b" + name + r"\s*\(", raw, re.S)
        check(m is not None, f"{name} has no doc comment directly above it")
    check_exports(args.library, header)
    check_swift(header, enums, structs, args.build_dir or os.path.dirname(os.path.abspath(args.library)))
    check_python(order, header, enums, structs)
    check_constants(raw, args.library)
    check_option_structs(args.library)
    print(f"check_abi: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
