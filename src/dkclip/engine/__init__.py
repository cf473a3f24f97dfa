"""Training and evaluation engine (configs, schedule, checkpoints, metrics, DDP, the train/evaluate loops).

Kept apart from the model library: ``dkclip.model`` never imports from here.
"""
