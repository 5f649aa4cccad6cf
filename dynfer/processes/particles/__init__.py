"""Interacting active particles (ABP, AOUP) in a periodic box: forces, neighbour search and simulation."""

__all__: list[str] = []
