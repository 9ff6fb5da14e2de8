"""Kafka and Faust: the app, topics, clients, the worker and its process."""
