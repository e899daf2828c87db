"""matd.core: the mathematics of matd. No I/O, no terminal output."""
