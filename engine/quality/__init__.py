"""Quality: the exact kappa oracle, the online estimator, the control loop."""
