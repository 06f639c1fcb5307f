"""``python -m softmaxkit convert IN.keras|IN.onnx OUT.safetensors``: writes
the converted model file (then ``smk info``, C and Swift load it). A model
that averages sub-models becomes an ensemble manifest ``OUT.ensemble.json``
(``OUT.json`` when OUT ends in ``.json``) and one model file per member,
``OUT.member0.safetensors``, ...: ``softmaxkit.load_ensemble`` reads the
manifest; C and Swift load the member files into an ensemble."""
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
        manifest = dst if dst.endswith(".json") else f"{stem}.ensemble.json"
        try:
            for path in model.save(manifest):
                print(f"wrote {path}")
        except Error as e:
            print(f"softmaxkit convert: {e}", file=sys.stderr)
            return 1
        print(f"an ensemble of {len(model.models)} models ({model.mode}): softmaxkit.load_ensemble({manifest!r}) "
              "loads it (C: smk_ensemble_load; Swift: Ensemble(manifest:))")
        _padding_note(model)
        return 0
    try:
        model.save(dst)
    except Error as e:
        print(f"softmaxkit convert: {e}", file=sys.stderr)
        return 1
    print(f"wrote {dst}: {model!r}")
    _padding_note(model)
    return 0


def _padding_note(model: object) -> None:
    lens = getattr(model, "lengths_input", None)
    if lens is not None:
        print(f"note: the graph's input {lens!r} (the recurrent nodes' sequence_lens) is the model's lengths "
              "argument (lengths= in Python, smk_model_forward_lengths in C)")
    pad = getattr(model, "padding_id", None)
    if pad is not None:
        print(f"note: the source masks id {pad} as padding; the model file keeps it (input.padding_id): Python "
              "takes each row's count of steps before its trailing padding ids as lengths when called without "
              "lengths; in C and Swift pass smk_padding_lengths' lengths (smk_model_padding_id gives the id)")


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
