"""Exit codes of every `bprop` command (documented in the README and in `bprop --help`)."""

OK = 0
CHECK_FAILED = 1
BAD_INPUT = 2
DIVERGED = 3
INTERRUPTED = 130

HELP = (
    "Exit codes: 0 success · 1 a check failed (gradcheck) · 2 bad input (usage, config, data, "
    "checkpoint) · 3 training diverged · 130 interrupted."
)
