"""One module per component; each exports `COMPONENT`. Install order lives in registry.py."""
