"""The platform's isolation rules, below everything that reads them: `table.py` holds every rule
(CrossGuard check, admission CEL, the doc's wording), `invariants.py` the checks as plain
functions. It imports only `tenants/` and its own label constants (`labels.py`), so builders,
the CrossGuard pack (`policy/`) and tests all read it from one floor up."""
