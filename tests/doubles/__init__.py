"""In-process test doubles of the ports (kept out of the wheel)."""
