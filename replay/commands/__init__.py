"""One module per `venom-replay` command; see replay/cli.py for the table."""
