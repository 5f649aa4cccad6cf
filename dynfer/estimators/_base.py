"""The estimator contract shared by every dynfer estimator.

An estimator is a class on arrays (no AnnData, no files) that follows scikit-learn's conventions, with a torch
twist for devices, seeds and saving:

* the constructor **stores its arguments as given** (no validation, no conversion); :meth:`Estimator.get_params`
  reads them back by the constructor's signature, so ``cls(**est.get_params())`` is an unfitted copy;
* ``fit(...)`` validates the parameters, learns, and returns ``self``; learned attributes end in ``_`` (each class
  lists them in ``fitted_attributes``) and a method that needs them raises :class:`NotFittedError` before a fit;
* **seeds**: ``seed=None`` means ``settings.seed`` (and fresh entropy when that is ``None`` too); an ``int`` or a
  :class:`torch.Generator` (one integer is drawn from it) is accepted; the resolved seed is recorded as ``seed_``;
* **device**: ``device=None`` means ``settings.device``; the device is never stored, so a saved model loads on any
  machine (pass ``device=`` to :meth:`Estimator.load`); **dtype**: ``dtype=None`` means ``settings.dtype``, and the
  resolved dtype (``dtype_``) is stored;
* :meth:`Estimator.state_dict` returns the learned state as plain data (nested dicts of arrays, numbers and
  strings), :meth:`Estimator.from_state` rebuilds a fitted estimator from ``(params, state)`` **without fitting**,
  and :meth:`Estimator.save` / :meth:`Estimator.load` write and read one file atomically, loaded with
  ``torch.load(weights_only=True)`` (no pickled code is ever executed).

Data-dependent defaults (``"auto"`` values) are resolved inside ``fit`` by the estimator itself, so the array class
and its AnnData face always agree.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch

from dynfer._errors import BadInputError
from dynfer._settings import settings
from dynfer._validation import resolve_seed
from dynfer.estimators._codec import decode_params, encode_params, state_to_numpy, state_to_torch

__all__ = [
    "FILE_FORMAT",
    "FORMAT_VERSION",
    "Estimator",
    "NotFittedError",
    "UnknownParameterError",
    "get_estimator_class",
    "resolve_seed",
]

FILE_FORMAT = "dynfer.estimator"
"""Value of ``"format"`` in files written by :meth:`Estimator.save`."""

FORMAT_VERSION = 1

E = TypeVar("E", bound="Estimator")


class NotFittedError(ValueError, AttributeError):
    """A method that needs a fitted estimator was called before ``fit`` (or ``from_state`` / ``load``)."""


class UnknownParameterError(BadInputError, TypeError):
    """A keyword that the estimator does not take: a :class:`BadInputError` and, as Python does, a ``TypeError``."""


def package_version(name: str) -> str:
    """The installed version of package ``name`` (``"unknown"`` without package metadata)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:  # pragma: no cover - source tree without metadata
        return "unknown"


class Estimator:
    """Base class of dynfer's estimators (see the module docstring for the contract).

    Subclasses define ``fit``, list their learned attributes in :attr:`fitted_attributes`, and implement
    :meth:`_get_state` / :meth:`_set_state`. They name the AnnData face that fits them in :attr:`face`, for error
    messages.

    Attributes
    ----------
    fitted_attributes
        Names of the learned attributes (ending in ``_``) that a fitted instance has.
    unstored_params
        Constructor parameters never written by :meth:`save` or the AnnData store (``device``).
    face
        The ``dynfer.tl`` function that fits this estimator on AnnData (``""``: none).
    """

    fitted_attributes: ClassVar[tuple[str, ...]] = ()
    unstored_params: ClassVar[tuple[str, ...]] = ("device",)
    face: ClassVar[str] = ""
    _registry: ClassVar[dict[str, type[Estimator]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        Estimator._registry[cls.__name__] = cls

    # ------------------------------------------------------------------ parameters
    @classmethod
    def _get_param_names(cls) -> list[str]:
        """Constructor parameter names, read from the signature (``*args`` / ``**kwargs`` are refused)."""
        names = []
        for p in inspect.signature(cls.__init__).parameters.values():
            if p.name == "self":
                continue
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise TypeError(f"{cls.__name__}.__init__ must list its parameters explicitly (no *args/**kwargs)")
            names.append(p.name)
        return names

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments, as given.

        Returns
        -------
        dict
            ``{name: value}`` for every constructor parameter.
        """
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self: E, **params: Any) -> E:
        """Set constructor parameters (validated at the next ``fit``).

        Returns
        -------
        Estimator
            ``self``.
        """
        check_param_names(type(self), params, f"{type(self).__name__}.set_params")
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def clone(self: E) -> E:
        """An unfitted estimator with the same parameters (``cls(**get_params())``)."""
        return type(self)(**self.get_params())

    def __repr__(self) -> str:
        sig = inspect.signature(type(self).__init__)
        shown = []
        for name, value in self.get_params().items():
            default = sig.parameters[name].default
            try:
                same = value is default or bool(value == default)
            except Exception:  # arrays and modules do not compare to a bool
                same = False
            if not same:
                shown.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    # ------------------------------------------------------------------ resolution at fit time
    def _resolve_seed(self) -> int:
        """Resolve ``self.seed`` (see :func:`resolve_seed`) and record it as ``seed_``."""
        self.seed_ = resolve_seed(getattr(self, "seed", None))
        return self.seed_

    def _resolve_device(self) -> torch.device:
        """``self.device``, or ``settings.device`` when it is ``None`` (never stored)."""
        device = getattr(self, "device", None)
        try:
            return settings.resolve_device(device)
        except RuntimeError:  # a name torch does not know
            raise BadInputError("device", f"{device!r}", "None, 'cpu', 'cuda' or 'cuda:i'") from None

    def _resolve_dtype(self) -> torch.dtype:
        """Resolve ``self.dtype`` (``None``: ``settings.dtype``) and record it as ``dtype_``."""
        value = getattr(self, "dtype", None)
        if value is None:
            dtype = settings.dtype
        elif isinstance(value, torch.dtype) and value.is_floating_point:
            dtype = value
        elif isinstance(value, str) and isinstance(getattr(torch, value, None), torch.dtype):
            dtype = getattr(torch, value)
        else:
            raise BadInputError(f"dtype must be None, a floating torch.dtype or its name, got {value!r}")
        if not dtype.is_floating_point:
            raise BadInputError(f"dtype must be a floating-point dtype, got {dtype}")
        self.dtype_ = dtype
        return dtype

    # ------------------------------------------------------------------ fitted state
    @property
    def is_fitted(self) -> bool:
        """Whether every learned attribute is present."""
        return bool(self.fitted_attributes) and all(hasattr(self, a) for a in self.fitted_attributes)

    def _check_fitted(self, method: str) -> None:
        """Raise :class:`NotFittedError` naming ``method`` and what to call first."""
        if not self.is_fitted:
            name = type(self).__name__
            how = f"call {name}(...).fit(...) first"
            if self.face:
                how += f", or fit it on AnnData with {self.face} and get it back with dynfer.tl.load_estimator"
            raise NotFittedError(f"this {name} is not fitted yet, so {method}() cannot run; {how}")

    def _get_state(self) -> dict[str, Any]:
        """The learned state as plain data; implemented by each estimator."""
        raise NotImplementedError

    def _set_state(self, state: Mapping[str, Any]) -> None:
        """Restore the learned attributes from :meth:`_get_state`'s output; implemented by each estimator."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """The learned state: a nested dict whose leaves are numpy arrays, numbers, booleans or strings.

        Returns
        -------
        dict
            Everything :meth:`from_state` needs besides the parameters.
        """
        self._check_fitted("state_dict")
        return state_to_numpy(self._get_state())

    def results(self) -> dict[str, Any]:
        """A readable summary of the fit as plain data (empty unless the estimator defines one)."""
        self._check_fitted("results")
        return {}

    def stored_params(self) -> dict[str, Any]:
        """The parameters as they are stored: without ``device``, with the resolved ``seed_`` and ``dtype_``.

        Returns
        -------
        dict
            Rebuilding with ``cls(**stored_params())`` and :meth:`from_state` gives the fitted model back.
        """
        self._check_fitted("stored_params")
        params = {k: v for k, v in self.get_params().items() if k not in self.unstored_params}
        if "seed" in params:
            params["seed"] = self.seed_
        if "dtype" in params:
            params["dtype"] = self.dtype_
        return params

    @classmethod
    def from_state(cls: type[E], params: Mapping[str, Any], state: Mapping[str, Any], **overrides: Any) -> E:
        """Rebuild a fitted estimator from its parameters and state, without fitting.

        Parameters
        ----------
        params
            Constructor parameters (e.g. :meth:`stored_params`).
        state
            The output of :meth:`state_dict` (numpy or torch leaves).
        **overrides
            Parameters to replace, e.g. ``device="cuda"`` or a module that could not be stored.

        Returns
        -------
        Estimator
            A fitted instance.
        """
        merged = {**params, **overrides}
        check_param_names(cls, merged, f"{cls.__name__}.from_state")
        est = cls(**merged)
        try:
            est._set_state(state_to_torch(state))
        except KeyError as err:
            raise BadInputError(f"the stored state of this {cls.__name__} lacks {err}; it is incomplete or damaged: "
                                "refit it") from None
        except (TypeError, RuntimeError, AttributeError, IndexError) as err:
            raise BadInputError(f"the stored state of this {cls.__name__} cannot be restored ({err}); it is damaged: "
                                "refit it") from None
        missing = [a for a in cls.fitted_attributes if not hasattr(est, a)]
        if missing:
            raise BadInputError(f"the state does not restore {missing} of {cls.__name__}; it is incomplete")
        return est

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> Path:
        """Write the fitted estimator to one file, atomically (a crash leaves no partial file).

        The file is a ``torch.save`` dictionary of plain data: format, estimator class, versions, the parameters as
        JSON and the state as tensors; :meth:`load` reads it with ``weights_only=True``.

        Parameters
        ----------
        path
            Destination (conventionally ``*.pt``); its folder is created.

        Returns
        -------
        pathlib.Path
            ``path``.
        """
        from dynfer.training.checkpoint import save_checkpoint

        self._check_fitted("save")
        payload = {
            "format": FILE_FORMAT,
            "format_version": FORMAT_VERSION,
            "estimator": type(self).__name__,
            "dynfer_version": package_version("dynfer"),
            "torch_version": str(torch.__version__),
            "params": encode_params(self.stored_params()),
            "state": state_to_torch(self._get_state()),
        }
        return save_checkpoint(payload, path)

    @classmethod
    def load(cls: type[E], path: str | Path, **overrides: Any) -> E:
        """Read an estimator written by :meth:`save` (``Estimator.load`` accepts any estimator class).

        Parameters
        ----------
        path
            The file.
        **overrides
            Parameters to replace (e.g. ``device="cuda"``).

        Returns
        -------
        Estimator
            The fitted estimator.

        Raises
        ------
        ValueError
            If the file is unreadable, not a dynfer estimator file, or holds another estimator class.
        """
        path = Path(path)
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # any unreadable file, re-raised with its path
            raise BadInputError(f"could not read the estimator file {str(path)!r}: {err}") from None
        if not isinstance(payload, dict) or payload.get("format") != FILE_FORMAT:
            raise BadInputError(f"{str(path)!r} is not a dynfer estimator file (written by Estimator.save)")
        if int(payload.get("format_version", 0)) > FORMAT_VERSION:
            raise BadInputError(f"{str(path)!r} was written in format {payload['format_version']}, newer than this "
                                f"dynfer reads ({FORMAT_VERSION}); upgrade dynfer")
        target = get_estimator_class(str(payload.get("estimator")))
        if cls is not Estimator and not issubclass(target, cls):
            raise BadInputError(f"{str(path)!r} holds a {target.__name__}, not a {cls.__name__}; "
                                f"use {target.__name__}.load or Estimator.load")
        warn_version(str(payload.get("dynfer_version")), str(path))
        return target.from_state(decode_params(payload["params"]), payload["state"], **overrides)


def warn_version(saved: str, where: str) -> None:
    """Warn (``UserWarning``) when a model saved by another dynfer version is loaded."""
    current = package_version("dynfer")
    if saved != current:
        warnings.warn(f"{where} was saved by dynfer {saved}; this is dynfer {current}. Loaded as is; refit if the "
                      "estimator changed between the versions", UserWarning, stacklevel=3)


def check_param_names(cls: type[Estimator], params: Mapping[str, Any], caller: str) -> None:
    """Raise ``TypeError`` naming ``caller`` if ``params`` holds a name the constructor of ``cls`` does not take."""
    known = cls._get_param_names()
    unknown = sorted(set(params) - set(known))
    if unknown:
        import difflib

        hints = [f"{u!r} (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(u, known, n=1)) else repr(u)
                 for u in unknown]
        raise UnknownParameterError(f"{caller}() got unexpected keyword argument(s) {', '.join(hints)}; "
                        f"the {cls.__name__} parameters are {', '.join(known)}")


def get_estimator_class(name: str) -> type[Estimator]:
    """The estimator class called ``name`` (every estimator of :mod:`dynfer.estimators` is known).

    Parameters
    ----------
    name
        Class name, e.g. ``"SchrodingerBridge"``.

    Returns
    -------
    type
        The class.
    """
    import dynfer.estimators  # noqa: F401  (importing it registers every estimator class)

    try:
        return Estimator._registry[name]
    except KeyError:
        raise BadInputError(f"unknown estimator {name!r}; known estimators: {sorted(Estimator._registry)}") from None
