"""`python -m deploy up|preview|destroy --stack <cluster>`: a sharded installation's stacks, in order.

The platform stack (the cluster's own) first, then the shard stacks in a bounded parallel pool;
tenants whose shard changed are moved between stacks first (`pulumi state move`: their objects
stay as they are). docs/scale.md#sharding says when and why.
"""
