"""What the Dask test modules share: a real dask.distributed cluster (2 worker
processes, one thread each) per module, and reproducible random logits.
The test modules skip themselves when Dask is not installed."""
from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=40)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def logits(shape, dtype=np.float32, seed=0):
    """Standard normal values times 3 in `dtype`, from `seed`."""
    return (np.random.default_rng(seed).standard_normal(shape) * 3).astype(dtype)
