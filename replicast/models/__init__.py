"""Models: schemas in Cog's shape, input validation, the registry and the runners."""
