r"""Score-matching objectives and the divergence of a score model on the noisy coordinates.

* **Denoising score matching** (Vincent 2011), antithetic as in Boffi & Vanden-Eijnden (2024): perturb the noisy
  coordinates, :math:`\tilde x_\pm = x \pm \lambda \odot z` with :math:`z \sim N(0, I)` and per-coordinate noise
  :math:`\lambda_a = \eta\,w_a` (:math:`w`: the coordinate's std, :math:`\eta`: the noise level, annealed down
  during training), and minimise

  .. math:: \tfrac12 E\big[|\lambda\odot\hat s(\tilde x_+) + z|^2 + |\lambda\odot\hat s(\tilde x_-) - z|^2\big]/m,

  whose minimiser is the score of :math:`\rho` smoothed by :math:`N(0, \mathrm{diag}\,\lambda^2)` (the
  :math:`\lambda^2` weighting keeps every level O(1)).
* **Implicit (Hyvärinen) score matching** in the metric :math:`D_g` (Hyvärinen 2005):

  .. math:: J(\hat s) = E\big[\hat s_g^\top D_g \hat s_g + 2\nabla_g\cdot(D_g\hat s_g)\big]
            = E|\hat s_g - s_g|^2_{D_g} - E|s_g|^2_{D_g},

  with the divergence exact (``"exact"``: one backward pass per noisy coordinate) or by Hutchinson's estimator
  with Rademacher probes (``"sliced"``: :math:`\nabla\cdot f \approx \epsilon^\top \partial f\,\epsilon`; Song et
  al. 2019, sliced score matching). :math:`J` is also the score term of the variational lower bound.

References
----------
Vincent, P. (2011). A connection between score matching and denoising autoencoders. *Neural Comput.* 23, 1661-1674.
Hyvärinen, A. (2005). Estimation of non-normalized statistical models by score matching. *JMLR* 6, 695-709.
Song, Y., Garg, S., Shi, J. & Ermon, S. (2019). Sliced score matching. *UAI*.
Hutchinson, M. F. (1989). A stochastic estimator of the trace of the influence matrix. *Commun. Stat.* 18, 1059-1076.
Boffi, N. M. & Vanden-Eijnden, E. (2024). Deep learning probability flows and entropy production rates in active
matter. *PNAS* 121, e2318106121.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["dsm_loss", "implicit_loss", "implicit_terms", "metric_divergence", "metric_sq"]

ScoreFn = Callable[[torch.Tensor], torch.Tensor]


def _scatter(x: torch.Tensor, index: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """``x`` with ``values`` added on the last-axis coordinates ``index``."""
    return x.index_add(-1, index, values)


def dsm_loss(score: ScoreFn, x: torch.Tensor, noise: torch.Tensor, index: torch.Tensor, scale: torch.Tensor,
             generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Antithetic denoising score-matching loss (mean over samples, particles and noisy coordinates).

    Parameters
    ----------
    score
        The model :math:`\hat s_g`, mapping states to ``(..., m)``.
    x
        Clean samples ``(n, d)`` or ``(n, N, c)``.
    noise
        Noise level per sample, shape ``(n,)`` (multiplies ``scale``).
    index
        ``(m,)`` noisy coordinates.
    scale
        ``(m,)`` per-coordinate std :math:`w`.
    generator
        Source of the perturbations (``None``: the global RNG).
    """
    shape = x.shape[:-1] + (index.numel(),)
    z = torch.randn(shape, dtype=x.dtype, device=x.device, generator=generator)
    lam = noise.reshape((-1,) + (1,) * (x.ndim - 1)) * scale
    plus = score(_scatter(x, index, lam * z))
    minus = score(_scatter(x, index, -lam * z))
    return 0.5 * (((lam * plus + z) ** 2).mean() + ((lam * minus - z) ** 2).mean())


def metric_sq(s: torch.Tensor, block: torch.Tensor) -> torch.Tensor:
    r""":math:`s^\top D_g s` over the last axis."""
    return ((s @ block) * s).sum(-1)


def metric_divergence(score: ScoreFn, x: torch.Tensor, index: torch.Tensor, block: torch.Tensor, *,
                      exact: bool, n_probes: int = 1, generator: torch.Generator | None = None,
                      create_graph: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    r""":math:`\hat s_g(x)` and :math:`\nabla_g\cdot(D_g\hat s_g)(x)`, summed over particles for ``(n, N, c)``.

    Parameters
    ----------
    exact
        One backward pass per noisy coordinate (states ``(n, d)`` only: for particles a coordinate's pass would
        mix particles), else Hutchinson with ``n_probes`` Rademacher probes (unbiased).
    create_graph
        Keep the graph (training through the divergence).

    Returns
    -------
    (torch.Tensor, torch.Tensor)
        The score ``(..., m)`` and the divergence ``(n,)``.
    """
    with torch.enable_grad():
        xg = x.detach().requires_grad_(True) if not x.requires_grad else x
        s = score(xg)
        f = s @ block  # D_g s (block symmetric)
        div = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        if exact:
            for a in range(index.numel()):
                (g,) = torch.autograd.grad(f[..., a].sum(), xg, create_graph=create_graph, retain_graph=True)
                div = div + g[..., int(index[a])].reshape(x.shape[0], -1).sum(-1)
        else:
            for _ in range(n_probes):
                eps = torch.randint(0, 2, f.shape, generator=generator, device=x.device).to(x.dtype) * 2 - 1
                (g,) = torch.autograd.grad((f * eps).sum(), xg, create_graph=create_graph, retain_graph=True)
                gi = g.index_select(-1, index)
                div = div + (gi * eps).reshape(x.shape[0], -1).sum(-1) / n_probes
    return s, div


def implicit_terms(score: ScoreFn, x: torch.Tensor, index: torch.Tensor, block: torch.Tensor, *, exact: bool,
                   n_probes: int = 1, generator: torch.Generator | None = None,
                   create_graph: bool = False) -> tuple[torch.Tensor, int]:
    r"""The per-sample terms of :math:`J(\hat s)` and the number of score outputs per sample (N·m).

    The terms are :math:`\hat s_g^\top D_g\hat s_g + 2\nabla_g\cdot(D_g\hat s_g)`, summed over particles, shape
    ``(n,)``.
    """
    s, div = metric_divergence(score, x, index, block, exact=exact, n_probes=n_probes, generator=generator,
                               create_graph=create_graph)
    return metric_sq(s, block).reshape(x.shape[0], -1).sum(-1) + 2 * div, s[0].numel()


def implicit_loss(score: ScoreFn, x: torch.Tensor, index: torch.Tensor, block: torch.Tensor, *, exact: bool,
                  n_probes: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""The Hyvärinen loss :math:`J(\hat s)` per sample, averaged (summed over particles, divided by N·m)."""
    per, units = implicit_terms(score, x, index, block, exact=exact, n_probes=n_probes, generator=generator,
                                create_graph=True)
    return per.mean() / units
