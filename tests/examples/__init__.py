"""Tests that run the examples/ scripts as real processes."""
