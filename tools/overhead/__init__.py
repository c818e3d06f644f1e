"""What our own machinery costs: long-run hooks, exact resume, the logistic regression."""
