"""The graph as data: canonical edge lists, update batches, net change per edge."""
