"""Training: splits, the logistic baseline, the XGBoost search, evaluation, explanations."""

from appliance.training.run import Prepared, TrainingOutcome, prepare, train_usecase

__all__ = ["Prepared", "TrainingOutcome", "prepare", "train_usecase"]
