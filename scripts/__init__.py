"""The project's developer tools; `localstack/` is the local stack behind `make run`."""
