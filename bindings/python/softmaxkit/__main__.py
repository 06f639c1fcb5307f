"""``python -m softmaxkit convert IN.keras|IN.onnx OUT.safetensors``: writes
the converted model file (then ``smk info``, C and Swift load it). A model
that averages sub-models becomes one file per member,
``OUT.member0.safetensors``, ... (load them into an Ensemble)."""
from __future__ import annotations

import argparse
import os
import sys


def _convert(src: str, dst: str, heads_json: str | None) -> int:
    import json

    from . import from_keras, from_onnx
    from ._errors import Error
    from .model import Ensemble

    heads = json.loads(heads_json) if heads_json else None
    ext = os.path.splitext(src)[1].lower()
    try:
        if ext == ".onnx":
            model = from_onnx(src, heads=heads)
        elif ext in (".keras", ".h5"):
            os.environ.setdefault("KERAS_BACKEND", "jax")
            import keras
            model = from_keras(keras.saving.load_model(src, compile=False), heads=heads)
        else:
            print(f"softmaxkit convert: {src}: unknown format {ext!r} (supported: .keras, .onnx)", file=sys.stderr)
            return 2
    except ImportError as e:
        extra = "onnx" if ext == ".onnx" else "keras"
        print(f"softmaxkit convert: {e}; install it with pip install 'softmaxkit[{extra}]'", file=sys.stderr)
        return 1
    except (Error, ValueError) as e:
        print(f"softmaxkit convert: {src}: {e}", file=sys.stderr)
        return 1
    if isinstance(model, Ensemble):
        stem = dst[:-len(".safetensors")] if dst.endswith(".safetensors") else dst
        for k, m in enumerate(model.models):
            path = f"{stem}.member{k}.safetensors"
            m.save(path)
            print(f"wrote {path}")
        print(f"an ensemble of {len(model.models)} models ({model.mode}): load the member files into "
              "softmaxkit.Ensemble (smk_ensemble_create in C)")
        return 0
    model.save(dst)
    print(f"wrote {dst}: {model!r}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m softmaxkit")
    sub = ap.add_subparsers(dest="command", required=True)
    c = sub.add_parser("convert", help="convert a Keras (.keras) or ONNX (.onnx) model to a SoftmaxKit model file")
    c.add_argument("input", help="IN.keras or IN.onnx")
    c.add_argument("output", help="OUT.safetensors")
    c.add_argument("--heads", help='JSON of head overrides, e.g. \'{"choice": {"temperature": 2}}\'')
    args = ap.parse_args(argv)
    return _convert(args.input, args.output, args.heads)


if __name__ == "__main__":
    sys.exit(main())
