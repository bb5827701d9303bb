"""Labels the rules and the builders share (builders.meta re-exports them)."""

TENANT_LABEL = "istio-multitenancy.io/tenant"
# The label the program puts on every namespace of a mesh (several meshes); each mesh's istiod selects its value.
MESH_LABEL = "istio-multitenancy.io/mesh"
# Set by the API server from the namespace's name and immutable: a tenant cannot forge it.
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
