"""streamer: validated, windowed, anomaly-checked energy telemetry on Kafka."""

__version__ = "0.1.0"
