"""The lab: a local stand-in for the article's Devstack cluster.

Real etcd, kube-apiserver, kube-controller-manager, kube-scheduler and KWOK (playing the
nodes' kubelets) run as child processes on loopback, envtest-style; `python -m lab` (or
scripts/lab) starts, describes and stops them. One module per part.
"""
