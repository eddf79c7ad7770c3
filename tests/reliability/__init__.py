"""The reliability suite: kills, restarts, injected AWS faults and bad inputs, with invariants."""
