"""Pictures and reports of runs: history curves (`plotting`), the boundary or fit of a model
(`boundary`, `pictures`), the steps of a run (`step_plot`) and the learning-rate range test
(`lr_finder`)."""
