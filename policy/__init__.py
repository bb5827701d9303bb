"""The platform's CrossGuard policy pack (see PulumiPolicy.yaml)."""
