"""azpe: manage private endpoint connections of Azure Database for PostgreSQL flexible servers."""

__version__ = "0.1.0"
