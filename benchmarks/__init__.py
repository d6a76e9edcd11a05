"""Benchmarks of riskserve: in-process inference, HTTP load, and a Locust file for users."""
