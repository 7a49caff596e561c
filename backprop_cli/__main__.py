"""`python -m backprop_cli` runs the `bprop` command line."""

from .cli.app import main

main()
