"""Node networking: the service proxy (``skiff proxy``); see :mod:`proxy.proxier`."""
