"""The sandbox: backends that run plugin code in isolated worker processes, and the pool of warm workers."""
