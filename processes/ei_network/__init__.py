"""The E/I network as a hierarchical Process with a graph model and a fused model."""
