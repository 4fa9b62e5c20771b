"""The E/I network from Lava's standard LIF, Dense and LearningDense (Loihi 2 deployable)."""
