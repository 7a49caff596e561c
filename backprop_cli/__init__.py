"""bprop: backpropagation you can read, trust and run fast.

The numerical core (activations, losses, layers, network, optimizers, schedules, clipping,
gradcheck) imports only NumPy and the standard library; the command line lives in
`backprop_cli.cli`.
"""

__version__ = "0.1.0"
