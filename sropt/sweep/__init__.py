"""``sropt sweep``: many pipeline runs over a grid of overrides, a Pareto front and a winner under a goal."""
