"""A run's lifecycle: its engine built from the config (`build`), planned with its data and
checked before anything is written (`plan`, `resumption` for a resumed run), executed with the
sinks its caller chooses (`run`, `sinks`); `inspecting` is what `bprop inspect` reports."""
