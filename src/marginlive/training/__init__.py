"""Data collection, datasets, augmentation, training and export (needs the `train` extra)."""
