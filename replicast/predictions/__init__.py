"""The prediction domain: the object, its status machine, its lifecycle and service."""
