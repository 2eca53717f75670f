"""Measuring a model: FID and KID on Inception features, paired metrics, and the health
checks and validation that watch a run while it trains.
"""
