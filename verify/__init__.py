"""Proofs that a render does what its tenants file declares: who can reach whom."""
