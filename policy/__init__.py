"""The CrossGuard pack. A package only so the program can import policy.devstack_domain;
the engine runs the pack from this folder, where its modules are top-level."""
