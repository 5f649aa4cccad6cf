r"""Score models :math:`\hat s_g(x) \approx \nabla_g \log\rho(x)` on the noisy coordinates :math:`g`.

All models share the **shift parametrisation** of Boffi & Vanden-Eijnden (2024): the network corrects the
equilibrium score :math:`s^{eq}_g = D_g^{-1} b^{irr}_g`,

.. math:: \hat s_g(x) = s^{eq}_g(x) + \mathrm{NN}_\theta(x), \qquad \mathrm{NN}_\theta \equiv 0
          \text{ at initialisation},

so that the probability-flow velocity :math:`v_g = b^{irr}_g - D_g\hat s_g = -D_g\,\mathrm{NN}_\theta` starts at
zero (an equilibrium guess) and the rate starts at 0. (For the MIPS model, :math:`s^{eq}_g = -g`.)

* :class:`MLPScore`: for states ``(n, d)``; the network sees standardised inputs and has a linear skip, so a
  Gaussian (Ornstein–Uhlenbeck) score is represented exactly;
* :class:`ParticleScore`: for particle states ``(n, N, c)``; a
  :class:`~dynfer.nn.local_transformer.LocalTransformerScore` reads each particle's k nearest neighbours under the
  minimum image, so a model trained at N particles evaluates at any N;
* :class:`GaussianScore`: the closed-form score of a fitted Gaussian (the plain-MLE baseline, exact for OU).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from dynfer.nn import MLP

__all__ = ["GaussianScore", "MLPScore", "ParticleScore", "equilibrium_score"]

ShiftFn = Callable[[torch.Tensor], torch.Tensor]


def equilibrium_score(irreversible: Callable[[torch.Tensor], torch.Tensor], index: torch.Tensor,
                      inv_block: torch.Tensor) -> ShiftFn:
    r""":math:`x \mapsto D_g^{-1} b^{irr}_g(x)` on the last axis (``index``: the noisy coordinates)."""

    def shift(x: torch.Tensor) -> torch.Tensor:
        b_g = irreversible(x).index_select(-1, index.to(x.device))
        return b_g @ inv_block.to(device=x.device, dtype=x.dtype)

    return shift


class MLPScore(nn.Module):
    r"""Score on the noisy coordinates of states ``(n, d)``: :math:`s^{eq}_g(x) + [L z + \mathrm{MLP}(z)] / w`.

    Parameters
    ----------
    dim
        State dimension d.
    n_noisy
        Number of noisy coordinates m (the output size).
    hidden
        Hidden widths of the MLP.
    mean, std
        Standardisation :math:`z = (x - \text{mean}) / \text{std}` (``(d,)`` each).
    out_scale
        ``(m,)`` scale :math:`w` of the outputs (the std of the noisy coordinates: a score is an inverse length).
    shift
        :math:`s^{eq}_g`, or ``None`` for the plain parametrisation :math:`\hat s_g = \mathrm{NN}_\theta`.
    dtype, device
        Parameter dtype and device.
    """

    def __init__(self, dim: int, n_noisy: int, hidden: Sequence[int], mean: torch.Tensor, std: torch.Tensor,
                 out_scale: torch.Tensor, shift: ShiftFn | None, *, activation: str = "silu",
                 dtype: torch.dtype | None = None, device: torch.device | None = None) -> None:
        super().__init__()
        self.mlp = MLP(dim, n_noisy, hidden=tuple(hidden), activation=activation, zero_last=True, dtype=dtype,
                       device=device)
        self.linear = nn.Linear(dim, n_noisy, bias=True, dtype=dtype, device=device)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)
        self.register_buffer("mean", mean.to(dtype=dtype, device=device))
        self.register_buffer("std", std.to(dtype=dtype, device=device))
        self.register_buffer("out_scale", out_scale.to(dtype=dtype, device=device))
        self.shift = shift

    @torch.no_grad()
    def start_from(self, x: torch.Tensor, target: torch.Tensor) -> None:
        r"""Set the affine part so that the correction starts as the least-squares fit of ``target`` (``(n, m)``).

        With ``target`` the Gaussian score minus the shift, the model starts at the Gaussian plug-in (exact for OU)
        and the MLP learns what is not Gaussian.
        """
        z = (x - self.mean) / self.std
        if not (bool(torch.isfinite(target).all()) and bool(torch.isfinite(z).all())):
            return  # a degenerate Gaussian (e.g. constant samples): keep the zero start
        design = torch.cat([z, torch.ones_like(z[:, :1])], dim=1).to(torch.float64)
        coef = torch.linalg.lstsq(design, (target * self.out_scale).to(torch.float64)).solution
        self.linear.weight.copy_(coef[:-1].T.to(self.linear.weight.dtype))
        self.linear.bias.copy_(coef[-1].to(self.linear.bias.dtype))

    def correction(self, x: torch.Tensor) -> torch.Tensor:
        r"""The learned part :math:`\mathrm{NN}_\theta(x)`, shape ``(n, m)``."""
        z = (x - self.mean) / self.std
        return (self.linear(z) + self.mlp(z)) / self.out_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r""":math:`\hat s_g(x)`, shape ``(n, m)``."""
        out = self.correction(x)
        return out if self.shift is None else out + self.shift(x)


class ParticleScore(nn.Module):
    r"""Score on the noisy per-particle coordinates of states ``(n, N, c)``: :math:`s^{eq}_g + \mathrm{NN}_\theta`.

    Parameters
    ----------
    net
        A :class:`~dynfer.nn.local_transformer.LocalTransformerScore` with ``out_features = m``.
    box
        Periodic box edge lengths ``(dim,)`` or ``None`` (free space).
    out_scale
        ``(m,)`` output scale (the std of the noisy coordinates).
    shift
        :math:`s^{eq}_g` or ``None``.
    """

    def __init__(self, net: nn.Module, box: torch.Tensor | None, out_scale: torch.Tensor, shift: ShiftFn | None
                 ) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("out_scale", out_scale.clone())
        self.register_buffer("box", box.clone() if box is not None else torch.zeros(0, dtype=out_scale.dtype))
        self.shift = shift

    def correction(self, x: torch.Tensor) -> torch.Tensor:
        r"""The learned part, shape ``(n, N, m)``."""
        box = self.box if self.box.numel() else None
        return self.net(x, box) / self.out_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r""":math:`\hat s_g(x)`, shape ``(n, N, m)``."""
        out = self.correction(x)
        return out if self.shift is None else out + self.shift(x)


class GaussianScore(nn.Module):
    r"""The score of a Gaussian :math:`N(m, \Sigma)` on the noisy coordinates: :math:`-[\Sigma^{-1}(x - m)]_g`.

    For particle states the Gaussian is over one particle's coordinates (pooled over particles), with the
    positions left out in a periodic box (uniform there).

    Parameters
    ----------
    mean
        ``(k,)`` mean of the modelled coordinates.
    precision
        ``(k, k)`` inverse covariance.
    modelled
        The k coordinates (last axis) the Gaussian covers.
    index
        The noisy coordinates (last axis) whose score is returned.
    """

    def __init__(self, mean: torch.Tensor, precision: torch.Tensor, modelled: Sequence[int], index: Sequence[int]
                 ) -> None:
        super().__init__()
        self.register_buffer("mean", mean.clone())
        self.register_buffer("precision", precision.clone())
        modelled = [int(k) for k in modelled]
        pos = {k: i for i, k in enumerate(modelled)}
        rows = [pos.get(int(k), -1) for k in index]
        self.modelled = torch.as_tensor(modelled, dtype=torch.long)
        self.rows = torch.as_tensor(rows, dtype=torch.long)

    @classmethod
    def fit(cls, x: torch.Tensor, modelled: Sequence[int], index: Sequence[int]) -> GaussianScore:
        """Maximum-likelihood mean and covariance of ``x[..., modelled]`` (pooled over all leading axes)."""
        if not list(modelled):  # every coordinate uniform: the score is zero
            empty = torch.zeros(0, dtype=x.dtype, device=x.device)
            return cls(empty, empty.reshape(0, 0), [], index)
        cols = x.index_select(-1, torch.as_tensor(list(modelled), dtype=torch.long, device=x.device))
        flat = cols.reshape(-1, cols.shape[-1]).to(torch.float64)
        mean = flat.mean(0)
        centred = flat - mean
        cov = centred.T @ centred / max(flat.shape[0] - 1, 1)
        jitter = 1e-10 * float(torch.diagonal(cov).mean().clamp_min(1e-300))
        precision = torch.linalg.inv(cov + jitter * torch.eye(cov.shape[0], dtype=cov.dtype, device=cov.device))
        return cls(mean.to(x.dtype), precision.to(x.dtype), modelled, index)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r""":math:`\hat s_g(x)`."""
        cols = x.index_select(-1, self.modelled.to(x.device))
        full = -(cols - self.mean) @ self.precision.T
        pad = torch.cat([full, full.new_zeros(full.shape[:-1] + (1,))], dim=-1)
        rows = torch.where(self.rows >= 0, self.rows, torch.full_like(self.rows, full.shape[-1]))
        return pad.index_select(-1, rows.to(x.device))


def as_numpy_state(module: nn.Module) -> dict[str, np.ndarray]:
    """A module's ``state_dict`` as float64/int numpy arrays with h5ad-safe keys (``.`` becomes ``__``)."""
    return {k.replace(".", "__"): v.detach().cpu().numpy() for k, v in module.state_dict().items()}


def load_numpy_state(module: nn.Module, state: dict) -> None:
    """Inverse of :func:`as_numpy_state` (strict)."""
    tensors = {k.replace("__", "."): torch.as_tensor(np.asarray(v.detach().cpu() if isinstance(v, torch.Tensor)
                                                                 else v)) for k, v in state.items()}
    module.load_state_dict(tensors, strict=True)
