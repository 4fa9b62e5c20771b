"""Spike gate: passes or silences a spike stream under the sleep Process control."""
