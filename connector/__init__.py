"""sparsiflow connector: the Kafka/Faust stream processor around the engine."""
