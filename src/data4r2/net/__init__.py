"""HTTP plumbing both hand-written legs share: the Hub download (hub/stream.py) and the S3 hot
path (sinks/s3_wire.py). Adapter-level: the engine never imports it."""
