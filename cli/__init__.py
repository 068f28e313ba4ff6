"""exmy.cli: the `exmy` command line."""
