"""Sleep controller: wake/sleep schedule, input gate, sleep drive and homeostatic decay."""
