"""Estimators: one sub-package per estimator family, sklearn-style classes on arrays (``fit`` returns ``self``).

Nothing here reads files or knows AnnData: the :mod:`dynfer.tl` faces translate. An estimator never imports another.
"""
