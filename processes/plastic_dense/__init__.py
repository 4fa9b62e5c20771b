"""Dense synapse with trace STDP, a structural mask and a fixed sign per pathway."""
