"""Gated Bernoulli rate encoder of an image stream."""
