"""Exit codes of every `bprop` command (documented in the README and in `bprop --help`)."""

OK = 0
CHECK_FAILED = 1
#: An unexpected error (a bug in bprop) in any command but gradcheck, where 1 means a failed check.
BUG = 1
#: An unexpected error in gradcheck (EX_SOFTWARE of sysexits.h), never read as "a check failed".
BUG_IN_GRADCHECK = 70
BAD_INPUT = 2
DIVERGED = 3
INTERRUPTED = 130
#: Standard output closed by its reader (`bprop predict … | head`), as a command killed by SIGPIPE.
OUTPUT_CLOSED = 141


def of_outcome(outcome: str) -> int:
    """The exit code of a race or a sweep from its `runs.outcomes.outcome`: success when a run
    finished, DIVERGED when none did and one diverged, BAD_INPUT when every run failed."""
    from ..runs.artifacts import outcomes

    if outcome == outcomes.SUCCEEDED:
        return OK
    return DIVERGED if outcome == outcomes.DIVERGED else BAD_INPUT


HELP = (
    "Exit codes: 0 success · 1 a check failed (gradcheck), or a bug in bprop · 2 bad input "
    "(usage, config, data, checkpoint, files and folders) · 3 training diverged · 70 a bug in "
    "bprop during gradcheck · 130 interrupted (also a training whose output's reader went away) · "
    "141 standard output closed by its reader."
)
