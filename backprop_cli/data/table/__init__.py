"""A table file on its way to a run, in the order it flows: read (`read`, with Arrow's readers
in `arrow`), encode (`encode` fits the `encoding` on the training split; `identifiers` and
`target_choice` are what it flags and asks), split and cache (`split`, `cache`); `inspection`
and `profile` describe it for `bprop inspect` and `bprop init --data`."""
