"""The networks and the algorithm: generators, discriminators, losses, the training step,
the image pool, schedules, precision and processes, and a model's files (checkpoints,
the reference's .pth files).
"""
