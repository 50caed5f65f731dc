"""UVTR project."""
