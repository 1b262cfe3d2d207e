"""Utilities that are neither registered components nor entry points (e.g. reference-checkpoint conversion)."""
