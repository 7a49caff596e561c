"""What a run leaves on disk and how it is read back: the names of its files (`layout`), its
checkpoints (`checkpoints`, their states checked by `checkpoint_states`), its directories
(`rundirs`), its steps (`step_log`) and its summary and status (`outcomes`)."""
