"""Stream processing free of any Kafka client: decode, batch, run the engine, publish,
acknowledge."""
