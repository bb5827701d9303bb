"""`make bench`: the program's cost at 10, 100 and 1,000 tenants, against what Pulumi itself needs."""
