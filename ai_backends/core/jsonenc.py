"""One JSON provider that knows NumPy, so routes can return arrays and NumPy scalars as they are.

``json.dumps`` fails on ``np.int64``, ``np.float32``, ``np.bool_``, arrays, ``np.datetime64``
and complex numbers, and writes ``NaN``/``Infinity``, which is not JSON. This provider turns
each into its plain JSON counterpart: non-finite floats become ``null``, datetimes ISO text,
complex numbers ``{"real", "imag"}``.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
from flask.json.provider import DefaultJSONProvider


def to_jsonable(value: Any) -> Any:
    """Convert a NumPy scalar or array (any dtype, any depth) to plain JSON values."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biu" or (value.dtype.kind == "f" and np.isfinite(value).all()):
            return value.tolist()
        return [to_jsonable(item) for item in value]
    if isinstance(value, np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, np.complexfloating):
        return {"real": to_jsonable(value.real), "imag": to_jsonable(value.imag)}
    if isinstance(value, (np.datetime64, np.timedelta64)):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def _finite_only(value: Any) -> Any:
    """Copy of ``value`` with every non-finite float (``float`` or ``np.float64``) as None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite_only(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_only(item) for item in value]
    return value


class NumpyJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, extended with ``to_jsonable`` for NumPy values."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        """Serialize to strict JSON: NaN and infinity become null instead of invalid tokens."""
        kwargs.setdefault("default", self.default)
        kwargs.setdefault("ensure_ascii", self.ensure_ascii)
        kwargs.setdefault("sort_keys", self.sort_keys)
        try:
            return json.dumps(obj, allow_nan=False, **kwargs)
        except ValueError:  # a float NaN/inf (np.float64 is a float) reached the encoder
            return json.dumps(_finite_only(obj), allow_nan=False, **kwargs)

    @staticmethod
    def default(o: Any) -> Any:
        """Encode NumPy values; defer everything else to Flask's default."""
        if isinstance(o, (np.ndarray, np.generic)):
            return to_jsonable(o)
        return DefaultJSONProvider.default(o)
