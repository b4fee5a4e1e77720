"""`data4r2 serve`: the HTTP edge of the queue service (FastAPI), its auth, destinations,
metrics, remote client and the worker threads it hosts.

An adapter layer like hub/ or sinks/: it parses and answers HTTP, and talks to the rest only
through what app.py (the composition root) hands it in a `ServiceContext`. It never builds a
hub, a sink or a store itself.
"""
