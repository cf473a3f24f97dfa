"""Applications built on the training library (:mod:`dkclip.engine`): evaluating a trained model, zero-shot
evaluation of a CLIP with the prompt sets of Table 6, and k-fold cross-validation."""
