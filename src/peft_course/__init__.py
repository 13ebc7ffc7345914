"""Helpers for the peft-course notebooks."""
