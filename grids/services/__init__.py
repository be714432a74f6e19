"""State changes of grids, one module per area."""
