"""The checks of the qualification suite, one module per area."""
