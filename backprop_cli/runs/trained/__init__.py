"""A trained model: built from its `ModelSpec` (`networks`, `seeding`), loaded with its
preprocessing and task (`model`), given new data from files or memory (`model_files`,
`model_arrays`), scored (`evaluation`), asked for predictions (`predictions`) and exported
(`export`). Nothing here trains."""
