"""One module per target kind; importing this package registers them all.

Add a module's import below when you add a connector.
"""
