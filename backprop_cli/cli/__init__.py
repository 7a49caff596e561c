"""The `bprop` command line: thin Typer commands that render the core's results with Rich."""
