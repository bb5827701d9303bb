"""Offline rendering: what `pulumi up` would apply, as files, with no cluster and no Pulumi CLI."""
