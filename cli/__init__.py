"""matd.cli: the command line, a thin translator over matd.core."""
