#!/usr/bin/env python3
"""The public Swift API of SoftmaxKit, compared with the committed list.

Extracts the symbol graph of the built SoftmaxKit module (public symbols
only: no internal, package, SPI or underscored ones) with
swift-symbolgraph-extract and compares one line per symbol with
Tests/api/SoftmaxKit.public-api.txt. A symbol added or removed fails the
check, so that a new public symbol is a decision: when it is meant, rerun
with --update and commit the list with the change (and README's API text).

    python3 Tests/api/check_public_api.py --modules .build/debug/Modules [--update]
"""
import argparse, difflib, json, os, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
LIST = os.path.join(HERE, "SoftmaxKit.public-api.txt")


def symbol_lines(modules: str, target: str) -> list[str]:
    with tempfile.TemporaryDirectory() as out:
        subprocess.run(
            ["swift-symbolgraph-extract", "-module-name", "SoftmaxKit", "-I", modules,
             "-I", os.path.join(ROOT, "Sources", "SoftmaxKitSIMD", "include"),
             "-target", target, "-minimum-access-level", "public", "-output-dir", out],
            check=True)
        lines = set()
        for name in os.listdir(out):
            for s in json.load(open(os.path.join(out, name)))["symbols"]:
                decl = "".join(f["spelling"] for f in s.get("declarationFragments", []))
                kind = s["kind"]["identifier"].removeprefix("swift.")
                if kind == "typealias":  # the target (a vector width) depends on the build
                    decl = decl.split(" = ")[0]
                lines.add(f"{kind} {'.'.join(s['pathComponents'])}: {' '.join(decl.split())}")
        return sorted(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modules", default=os.path.join(ROOT, ".build", "debug", "Modules"),
                    help="the folder holding the built SoftmaxKit.swiftmodule")
    ap.add_argument("--target", default="x86_64-unknown-linux-gnu")
    ap.add_argument("--update", action="store_true", help="rewrite the committed list")
    a = ap.parse_args()
    got = symbol_lines(a.modules, a.target)
    if a.update:
        open(LIST, "w").write("".join(l + "\n" for l in got))
        print(f"wrote {len(got)} public symbols to {os.path.relpath(LIST, ROOT)}")
        return 0
    want = open(LIST).read().splitlines()
    if got == want:
        print(f"public API: {len(got)} symbols, as listed")
        return 0
    sys.stdout.writelines(difflib.unified_diff([l + "\n" for l in want], [l + "\n" for l in got],
                                               "listed", "built"))
    print("The public Swift API differs from Tests/api/SoftmaxKit.public-api.txt: make the new "
          "symbols internal, or rerun with --update and commit the list if they are meant.")
    return 1


if __name__ == "__main__":
    sys.exit(main())
