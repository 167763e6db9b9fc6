"""A person's journey timeline (`Person.timeline`): life events, newest first, as a Relay connection."""
