"""Component modules: the values models, constructs and logic that rows of
data/components.yaml name (the table is the registry; install order lives there)."""
