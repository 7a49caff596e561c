"""Runs, in the order their subpackages build on each other: what a run leaves on disk
(`artifacts`), a trained model (`trained`), a run's lifecycle (`train`), pictures and reports
(`reports`), a run trained into its directory (`training`), and campaigns of many runs
(`campaigns`). Each imports only those before it (`tests/test_layout.py`)."""
