"""The environment variables that change what bprop prints or where it writes, or how the tests
behave: the suite (conftest.py) and the README's session (readme.py) both start without them."""

SCRUBBED = (
    "FORCE_COLOR", "NO_COLOR", "CLICOLOR", "CLICOLOR_FORCE", "TTY_COMPATIBLE", "TTY_INTERACTIVE",
    "COLUMNS", "LINES", "TERM", "CI", "GITHUB_ACTIONS", "JUPYTER_COLUMNS", "JUPYTER_LINES",
    "BPROP_TEST_SIGNAL", "BPROP_DATASETS", "BPROP_CACHE_MAX_BYTES", "XDG_CACHE_HOME",
    "HYPOTHESIS_PROFILE", "NUMBA_CACHE_DIR",  # compiled kernels go to the test's own cache
)  # fmt: skip
