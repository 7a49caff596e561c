"""Shared type aliases for the numerical core."""

from typing import Any

import numpy as np
from numpy.typing import NDArray

#: A floating-point array of the run's dtype (float32 or float64).
Array = NDArray[np.floating[Any]]

#: The dtypes bprop computes in, and the one a run computes in unless its config says otherwise
#: (gradient checks always use float64).
FLOAT_DTYPES = ("float32", "float64")
DEFAULT_DTYPE = "float32"
