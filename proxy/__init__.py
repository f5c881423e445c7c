"""Capture: the mitmproxy addon, the recording format, importers and template inference."""
