"""Test helpers shared by the test packages: a real moto_server, a stalling TCP proxy."""
