"""The recording side of shadowdiff: a mitmproxy addon and file importers.

Runs inside `mitmdump`; imports mitmproxy and `store` only.
"""
