"""The explorer, its checkers and reports, and the `venom-replay` command line."""
