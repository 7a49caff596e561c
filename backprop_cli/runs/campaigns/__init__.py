"""Many runs as one campaign (`campaign`: here, in worker processes or on Dask, through
`execution`): an optimizer race (`race`, `comparison`), a sweep (`sweep`, `trials`,
`sweep_results`) and a cross-validation (`cv`)."""
