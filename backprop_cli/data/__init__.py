"""Data sets: generated (`generators`), shipped or read from a file (`files`, and `table`, a
table's way from its file through its encoding to a run's splits and the cache), given in
memory (`memory`); split (`splits`) and standardized (`standardizer`). `sources.load_data` puts
them together for a run.

Importing this package imports nothing else: each name below is loaded from its module when it
is first asked for, so that a command that only reads a table (prediction) does not load the
rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..system.lazy import lazy_names

#: Where each name of the package lives.
_HOMES = {
    "GENERATORS": "generators",
    "SHIPPED": "files",
    "SHIPPED_TABLES": "files",
    "Dataset": "splits",
    "Standardizer": "standardizer",
    "scale_targets": "splits",
    "generator_options": "generators",
    "load_data": "sources",
    "load_raw": "sources",
    "table_request": "table.split",
    "table_source": "table.split",
}

if TYPE_CHECKING:
    from .files import SHIPPED, SHIPPED_TABLES
    from .generators import GENERATORS, generator_options
    from .sources import load_data, load_raw
    from .splits import Dataset, scale_targets
    from .standardizer import Standardizer
    from .table.split import table_request, table_source

__all__ = [
    "GENERATORS",
    "SHIPPED",
    "SHIPPED_TABLES",
    "Dataset",
    "Standardizer",
    "generator_options",
    "load_data",
    "load_raw",
    "scale_targets",
    "table_request",
    "table_source",
]

__getattr__ = lazy_names(__name__, _HOMES)
