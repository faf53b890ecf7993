"""Built-in rankers. Nothing here imports Django."""
