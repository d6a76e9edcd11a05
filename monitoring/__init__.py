"""Offline monitoring: drift reports of live inputs against the training reference.

Not part of the bento: it runs on a schedule beside the service, reading the model store
and the service's audit log, and never imports into the serving processes.
"""
