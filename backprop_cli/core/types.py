"""Shared type aliases for the numerical core."""

from typing import Any

import numpy as np
from numpy.typing import NDArray

#: A floating-point array of the run's dtype (float32 or float64).
Array = NDArray[np.floating[Any]]

#: The dtypes bprop computes in.
FLOAT_DTYPES = ("float32", "float64")
