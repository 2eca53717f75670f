"""Image files and training data: reading and writing images, dataset folders, the
reference's preprocessing, the epoch plan.
"""
