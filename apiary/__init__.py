"""Apiary: a self-hosted Social CRM and customer community platform."""

__version__ = "0.1.0"
