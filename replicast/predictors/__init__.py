"""Users' own models: Cog-style predictors served from a child process."""
