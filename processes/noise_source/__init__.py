"""Seeded noise source: spikes or current that keep a silenced network active."""
