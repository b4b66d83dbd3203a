"""Connectors: one module per target kind, listed in ``registry.CONNECTORS``.

Importing this package imports no connector: ``access.models`` reads the
registry while Django loads the models, and every connector imports those models.
"""
