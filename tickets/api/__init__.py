"""The HTTP layer: thin routes over ``tickets.service``."""
