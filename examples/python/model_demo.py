"""The example networks from Python: loads each bundled model file, runs it on
its fixed input and prints the first rows of every head, then a two-model
ensemble. Run from the repository root:
    PYTHONPATH=bindings/python python3 examples/python/model_demo.py
"""
from pathlib import Path

import numpy as np

import softmaxkit

MODELS = Path(__file__).resolve().parents[1] / "models"
np.set_printoptions(precision=4, suppress=True)

for name in ["robot_arm", "masked", "hierarchical", "multitask", "timesteps", "digits", "controller", "tagger"]:
    model = softmaxkit.Model.load(MODELS / f"{name}.safetensors")
    x = np.load(MODELS / f"{name}.input.npy")  # float32 features, or int64 token ids (tagger)
    print(f"{name}: input {list(x.shape)} {x.dtype}, {model.parameter_count} parameters")
    for head, y in model(x).items():
        for r, row in enumerate(y.reshape(-1, y.shape[-1])[:2]):
            print(f"  {head}[{r}]: " + " ".join(f"{v:.4f}" for v in row))

# Padding without a mask: the tagger's second sentence has 4 valid tokens.
ids = np.load(MODELS / "tagger.input.npy")
tagger = softmaxkit.Model.load(MODELS / "tagger.safetensors")
tags = tagger(ids, lengths=[ids.shape[1], 4])["tags"]
print("tagger with lengths [6, 4], row 1 steps 3..5 (the last two are padding):")
for t in range(3, 6):
    print(f"  tags[1, {t}]: " + " ".join(f"{v:.4f}" for v in tags[1, t]))

# The controller one tick at a time: the state carries its memory.
controller = softmaxkit.Model.load(MODELS / "controller.safetensors")
x = np.load(MODELS / "controller.input.npy")
state = controller.new_state(batch=1)
for t in range(x.shape[1]):
    out = controller.step(x[:, t], state)
print("controller streamed over", x.shape[1], "ticks, last action probabilities:",
      " ".join(f"{v:.4f}" for v in out["action"][0]), "(one forward:",
      " ".join(f"{v:.4f}" for v in controller(x)["action"][0, -1]) + ")")

a = softmaxkit.Model.load(MODELS / "ensemble_a.safetensors")
b = softmaxkit.Model.load(MODELS / "ensemble_b.safetensors")
x = np.load(MODELS / "ensemble_a.input.npy")
for mode in ("arithmetic", "geometric", "logits"):
    probs = softmaxkit.Ensemble([a, b], mode=mode)(x)["probs"]
    print(f"ensemble ({mode}) probs[0]: " + " ".join(f"{v:.4f}" for v in probs[0]))

try:
    a(np.zeros((1, 11)))
except ValueError as e:
    print("wrong feature count:", e)
