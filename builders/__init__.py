"""Pure builders: validated config in, Kubernetes objects (plain dicts) out. No Pulumi here."""
