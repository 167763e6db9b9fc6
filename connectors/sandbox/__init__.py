"""Sandbox upstreams: realistic local HTTP servers that connectors are tested and demonstrated against.

Run one on its own with ``python -m connectors.sandbox --port 8101``.
"""

from connectors.sandbox.social import STATE, Fault, SandboxState, SocialSandbox, create_app, profile_for

__all__ = ["STATE", "Fault", "SandboxState", "SocialSandbox", "create_app", "profile_for"]
