"""A training run: building it, the loop, resuming, stopping, the loss log and the HTML
report.
"""
