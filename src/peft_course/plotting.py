"""Plots the notebooks share (matplotlib; each function returns its Figure)."""
