"""The sandbox AWS: a local stand-in for STS, IAM and the console federation endpoint, for
development and tests only (`python -m sandbox`; not installed in production). See app.py."""
