"""Small HTTP JSON APIs that tests run in separate processes, the way a real API runs."""
