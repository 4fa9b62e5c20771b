"""Current-based LIF population with adaptive threshold, membrane noise and a sleep drive."""
