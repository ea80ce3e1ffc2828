"""Helpers tests share that are not fixtures of one layer: real servers started for a test."""
