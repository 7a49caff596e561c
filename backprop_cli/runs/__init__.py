"""The run lifecycle: building an experiment from its config, training it into a run directory
with checkpoints and resumption, optimizer races and sweeps (several runs, run here or in worker
processes), inference with a trained model, and the pictures of its history."""
