"""The toolkit at the bottom: API errors, parsers, fields, pagination and schema, the
request context, htmx and history helpers, the API permission and serializer bases, admin
bases and the statement layer. It imports nothing of ours but itself, and every app may
import it (tests/autonomy/test_import_layers.py keeps it so).
"""
