"""The shared process backend: batched stochastic processes on any torch device.

Nothing here knows about AnnData: inputs and outputs are tensors (or numpy arrays where stated).
"""
