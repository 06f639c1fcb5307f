"""The seed documents' worked examples from Python (numpy + softmaxkit only)."""
import numpy as np

import softmaxkit as smk

np.set_printoptions(precision=4, suppress=True)
print(f"SoftmaxKit {smk.version()} from {smk.library_path}")
s = np.array([0.0, 2.0, 4.0])
print("softmax([0, 2, 4])            ", smk.softmax(s))
print("softmax([100, 102, 104])      ", smk.softmax(s + 100))
print("softmax([0, 2, 4], T=4)       ", smk.softmax(s, temperature=4.0))
print("log_softmax([1000, 1])        ", smk.log_softmax(np.array([1000.0, 1.0])))
print("softmax([1.5, 0])[0] vs sigmoid", smk.softmax(np.array([1.5, 0.0]))[0], smk.sigmoid(np.array(1.5)))
print("softmax over axis 0           ", smk.softmax(np.array([[1.0, 2, 3], [3, 2, 1]]), axis=0).ravel())
print("logsumexp([0, 2, 4])          ", smk.logsumexp(s))
try:
    smk.softmax(s, temperature=-1.0)
except smk.Error as e:
    print("temperature -1:               ", type(e).__name__, e)
