"""The bundled demo: a shop API with four planted sequence bugs (and its correct twin), and the
scripted happy-path client traffic that `venom-replay demo` records."""
