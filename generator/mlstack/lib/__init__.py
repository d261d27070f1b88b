"""Shared machinery: values models, slots, chart writing, rendering and validation."""
