"""Figures of party_org: duties."""
