"""What bprop asks of the operating system: atomic writes, one writer per folder, safe reads of
a user's files, the machine's memory, and the crash points of bprop's own tests."""
