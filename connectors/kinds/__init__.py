"""Built-in connector kinds. Each is also registered in the `citizen_hub.connectors` entry-point group."""
