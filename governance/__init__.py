"""Tenancy, permissions, policies and the audit ledger. Imports no other app of ours."""
