"""One module per ``feeder`` subcommand, each with ``add_arguments`` and ``run``."""
