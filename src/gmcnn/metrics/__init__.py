"""Metrics of the paper's experiments: accuracy, rollout RMSE, model equivariance error
(MATH.md §8, paper App. E), parameter count and FLOPs."""

from gmcnn.metrics.cost import flops_per_example, parameter_count
from gmcnn.metrics.equivariance import act_on_positions, equivariance_error, sample_elements
from gmcnn.metrics.scores import accuracy, rollout_rmse, rollout_squared_errors

__all__ = [
    "accuracy",
    "act_on_positions",
    "equivariance_error",
    "flops_per_example",
    "parameter_count",
    "rollout_rmse",
    "rollout_squared_errors",
    "sample_elements",
]
