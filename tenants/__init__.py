"""Tenants files, their typed model and validation: the program's one input edge."""

from .errors import ConfigError, Problem
from .loader import load_tenants, parse_tenants
from .model import TenantsFile

__all__ = ["ConfigError", "Problem", "TenantsFile", "load_tenants", "parse_tenants"]
