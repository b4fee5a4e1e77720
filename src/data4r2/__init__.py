"""data4r2: mirror Hugging Face Hub repositories into R2, S3 or a folder — streamed and verified."""

__version__ = "0.1.0"
