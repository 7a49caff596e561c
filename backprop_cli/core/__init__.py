"""The numerical core: NumPy only, no files, no printing.

Activations, losses, initializers, layers, the network, optimizers, schedules, clipping, batching,
the training loop and the gradient check. Each kind of building block is registered in one place
with its hyperparameters (`hyper.Hyper`); the config models derive from those registries.
"""
