"""Real servers the tests start on 127.0.0.1 (SeaweedFS for S3); fixtures live in conftest.py."""
