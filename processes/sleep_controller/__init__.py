"""Sleep Process for any Lava network: schedule, homeostatic decay, early wake-up."""
