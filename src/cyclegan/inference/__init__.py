"""Applying a trained generator to images of any size: whole, batched, or in blended tiles."""
