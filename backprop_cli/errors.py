"""The exceptions bprop raises.

Library code raises these; only the CLI turns them into exit codes.
"""


class BpropError(Exception):
    """Base class of every error bprop reports to a user."""


class ConfigError(BpropError):
    """An experiment or model description that cannot work (bad key, value or combination)."""


class DataError(BpropError):
    """A data set that cannot be used (missing, malformed, wrong shape)."""


class CheckpointError(BpropError):
    """A checkpoint that cannot be loaded (missing, corrupt, mismatched)."""
