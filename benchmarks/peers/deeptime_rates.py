"""Peer side of bench_mjp: deeptime's generator estimate from lag-1 transition counts (run in the peers' venv).

Reads ``counts`` ``(C, n, n)`` and ``lag`` from the npz given as the first argument, writes ``rates`` ``(C, n, n)``
and the seconds per context to the npz given as the second. deeptime estimates a *reversible* generator at one lag
(``markov.tools.estimation.rate_matrix``, method "KL" as its default); a failure is recorded as NaN.
"""

import sys
import time

import numpy as np
from deeptime.markov.tools.estimation import rate_matrix

data = np.load(sys.argv[1])
counts, lag = data["counts"], float(data["lag"])
out, secs = [], []
for c in counts:
    t = time.perf_counter()
    try:
        # deeptime wants a reversible transition matrix; the symmetrised counts give its MLE (C + C^T) / rows
        sym = c + c.T
        p = sym / sym.sum(1, keepdims=True)
        out.append(rate_matrix(p, dt=lag, method="KL"))
    except Exception:  # a peer failure is a result, recorded as NaN
        out.append(np.full(c.shape, np.nan))
    secs.append(time.perf_counter() - t)
np.savez(sys.argv[2], rates=np.array(out), seconds=np.array(secs))
