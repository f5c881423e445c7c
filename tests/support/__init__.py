"""Shared test machinery: real servers in separate processes on free loopback ports."""
