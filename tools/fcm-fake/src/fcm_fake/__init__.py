"""A local fake of the FCM HTTP v1 API and Google's OAuth2 token endpoint.

DEVELOPMENT AND TEST TOOL, NOT PRODUCTION CODE. It lets the unmodified firebase-admin SDK run
offline: `make run` pushes through it, the tests script its failures, the benchmarks measure
against it. Nothing here is ever imported by a service.
"""
