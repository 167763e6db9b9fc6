"""Connectors in the schema: per-connector Person fields, consent and identity-link mutations.

Deliberately empty of imports: `schema.context` imports `schema.connectors.loaders`, and `fields` imports
the context.
"""
