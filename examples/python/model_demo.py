"""The seed networks from Python: loads each bundled model file, runs it on
its fixed input and prints the first rows of every head, then a two-model
ensemble. Run from the repository root:
    PYTHONPATH=bindings/python python3 examples/python/model_demo.py
"""
from pathlib import Path

import numpy as np

import softmaxkit

MODELS = Path(__file__).resolve().parents[1] / "models"
np.set_printoptions(precision=4, suppress=True)

for name in ["robot_arm", "masked", "hierarchical", "multitask", "timesteps", "digits"]:
    model = softmaxkit.Model.load(MODELS / f"{name}.safetensors")
    x = np.load(MODELS / f"{name}.input.npy")
    print(f"{name}: input {list(x.shape)}, {model.parameter_count} parameters")
    for head, y in model(x).items():
        for r, row in enumerate(y.reshape(-1, y.shape[-1])[:2]):
            print(f"  {head}[{r}]: " + " ".join(f"{v:.4f}" for v in row))

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
