"""One module per logical unit of the graph; __main__.py composes them."""

import sys

if getattr(getattr(sys.modules.get("__main__"), "__spec__", None), "name", None) == "pulumi.dynamic.__main__":
    # In the dynamic provider's process (`python -m pulumi.dynamic`), whose gRPC threads run several
    # resources' methods at once: the clients those methods import inside themselves are imported
    # here, once, before any thread can meet a half-initialised module ("cannot import name ... from
    # partially initialized module 'requests.utils'", seen when two waits imported them together).
    # Unpickling any of this package's providers imports this first, under the package's import lock.
    import kubernetes.client  # noqa: F401
    import openstack  # noqa: F401
