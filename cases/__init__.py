"""The case library: seeded, randomly initialised Keras model factories.

One module per family; every module here except the machinery (api, loader,
inputs) is collected.  See :mod:`cases.api` for the API.
"""
