"""One module per page: layout, callbacks as plain methods, and a ``register`` function."""
