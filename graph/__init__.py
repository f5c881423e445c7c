"""The transition graph over action templates, unseen orderings, and graph exports."""
