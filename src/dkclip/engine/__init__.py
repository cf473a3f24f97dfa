"""The training library: run config, builders, the trainer, checkpoints, run logging, metrics, schedule,
samplers, inference over a loader, reports and distributed helpers.

Applications on top of it live in :mod:`dkclip.tasks`; the model library (:mod:`dkclip.model`, the factory)
never imports from here.
"""
