"""Kubernetes helpers shared by the lab's Kubernetes-side doubles (client-go's role for them).

client: an API client from a kubeconfig, raw-JSON calls and small object helpers.
informer: list + watch of one resource into a cache (the one informer every double uses).
workqueue: keyed work with one operation per key at a time, retry with backoff, ``Retry``.
events: core/v1 Events, like client-go's event recorder.
"""
