"""The imgstax edge: an nginx cache in front of one or more origins, and how to run it locally.

``render`` turns ``edge.conf.template`` into a config for given origins and paths,
``server`` finds and runs nginx unprivileged, ``run_edge`` is ``make edge``.
"""
